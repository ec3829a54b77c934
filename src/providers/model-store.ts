/**
 * Whisper model resolution. A path is used as given; a name (`base.en`) resolves to
 * `<cacheDir>/ggml-<name>.bin` and, when missing, is downloaded there: into `<file>.part`,
 * resumed with an HTTP Range request when a .part is left from an interrupted run, checked
 * against the published checksum, then renamed into place so a half-written file never
 * looks like a model.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import { isAbortError, throwIfAborted } from '../errors/abort.ts';
import { SpeechbridgeError } from '../errors/registry.ts';

/** Where whisper.cpp publishes its converted ggml models. */
export const DEFAULT_MODEL_BASE_URL = 'https://huggingface.co/ggerganov/whisper.cpp/resolve/main';

/** What a downloaded file must match; every field given is checked. */
export interface ModelChecksum {
  sha1?: string;
  sha256?: string;
  sizeBytes?: number;
}

/**
 * SHA-1 sums from whisper.cpp's models/README.md ("Available models"), the only sums the
 * project publishes. Other files on the model repository (e.g. `tiny-q5_1`) have no published
 * sum; pass one through `checksums` to use them.
 */
export const KNOWN_MODELS: Readonly<Record<string, ModelChecksum>> = {
  tiny: { sha1: 'bd577a113a864445d4c299885e0cb97d4ba92b5f' },
  'tiny.en': { sha1: 'c78c86eb1a8faa21b369bcd33207cc90d64ae9df' },
  base: { sha1: '465707469ff3a37a2b9b8d8f89f2f99de7299dac' },
  'base.en': { sha1: '137c40403d78fd54d454da0f9bd998f78703390c' },
  small: { sha1: '55356645c2b361a969dfd0ef2c5a50d530afd8d5' },
  'small.en': { sha1: 'db8a495a91d927739e50b3fc1cc4c6b8f6c2d022' },
  'small.en-tdrz': { sha1: 'b6c6e7e89af1a35c08e6de56b66ca6a02a2fdfa1' },
  medium: { sha1: 'fd9727b6e1217c2f614f9b698455c4ffd82463b4' },
  'medium.en': { sha1: '8c30f0e44ce9560643ebd10bbe50cd20eafd3723' },
  'large-v1': { sha1: 'b1caaf735c4cc1429223d5a74f0f4d0b9b59a299' },
  'large-v2': { sha1: '0f4c8e34f21cf1a914c59d8b3ce882345ad349d6' },
  'large-v2-q5_0': { sha1: '00e39f2196344e901b3a2bd5814807a769bd1630' },
  'large-v3': { sha1: 'ad82bf6a9043ceed055076d0fd39f5f186ff8062' },
  'large-v3-q5_0': { sha1: 'e6e2ed78495d403bef4b7cff42ef4aaadcfea8de' },
  'large-v3-turbo': { sha1: '4af2b29d7ec73d781377bfd1758ca957a807e941' },
  'large-v3-turbo-q5_0': { sha1: 'e050f7970618a659205450ad97eb95a18d69c9ee' },
};

export interface ResolveModelOptions {
  cacheDir: string;
  /** Defaults to DEFAULT_MODEL_BASE_URL; the caller applies WHISPER_MODEL_BASE_URL. */
  baseUrl?: string;
  /** False: a missing named model is an error instead of a download. Default true. */
  download?: boolean;
  /** Extra or overriding checksums by name; their names count as known. */
  checksums?: Readonly<Record<string, ModelChecksum>>;
  /** Bytes in the file so far (resumed bytes included) and the full size when the server says it. */
  onProgress?: (received: number, total: number | undefined) => void;
  signal?: AbortSignal;
}

/** A path has a directory separator or ends in `.bin`; anything else is a model name. */
export function isModelPath(nameOrPath: string): boolean {
  return nameOrPath.includes('/') || nameOrPath.includes(path.sep) || nameOrPath.endsWith('.bin');
}

export function modelFileName(name: string): string {
  return `ggml-${name}.bin`;
}

/** Returns the absolute path of a model file, downloading a named model when it is not cached. */
export async function resolveModel(nameOrPath: string, options: ResolveModelOptions): Promise<string> {
  throwIfAborted(options.signal);
  if (isModelPath(nameOrPath)) return existingModelFile(nameOrPath);

  const checksums = { ...KNOWN_MODELS, ...options.checksums };
  const expected = checksums[nameOrPath];
  const cacheDir = path.resolve(expandHome(options.cacheDir));
  const file = path.join(cacheDir, modelFileName(nameOrPath));
  if (!expected) {
    // A name of one's own: a model imported with `speechbridge models add --name`.
    if (await isFile(file)) return file;
    throw new SpeechbridgeError(
      'model_not_found',
      `unknown whisper model "${nameOrPath}": known models are ${Object.keys(checksums).join(', ')}; or give a path to a ggml .bin file, or import one with speechbridge models add`,
      { param: 'model' },
    );
  }
  if (await isFile(file)) return file;
  if (options.download === false) {
    throw new SpeechbridgeError(
      'model_not_found',
      `model ${nameOrPath} is not in ${cacheDir} and downloads are off: copy ${modelFileName(nameOrPath)} there or give a file path`,
      { param: 'model' },
    );
  }
  const url = `${(options.baseUrl ?? DEFAULT_MODEL_BASE_URL).replace(/\/+$/, '')}/${modelFileName(nameOrPath)}`;
  await mkdir(cacheDir, { recursive: true });
  const partFile = `${file}.part`;
  const fetched = await downloadToPart(url, partFile, { ...options, cacheDir, name: nameOrPath, expected });
  const mismatch = checksumMismatch(fetched, expected);
  if (mismatch) {
    await rm(partFile, { force: true });
    throw new SpeechbridgeError(
      'checksum_mismatch',
      `${modelFileName(nameOrPath)} from ${url} ${mismatch}; the download was deleted, run again to fetch it afresh`,
      { param: 'model' },
    );
  }
  // rename() within one folder is atomic: readers see either no file or the whole one.
  await rename(partFile, file);
  return file;
}

async function existingModelFile(given: string): Promise<string> {
  const file = path.resolve(expandHome(given));
  const info = await stat(file).catch(() => undefined);
  if (!info) {
    throw new SpeechbridgeError('model_not_found', `model file ${file} does not exist: give the path of a ggml .bin file or a model name such as base.en`, {
      param: 'model',
    });
  }
  if (!info.isFile()) throw new SpeechbridgeError('model_not_found', `model path ${file} is not a file`, { param: 'model' });
  return file;
}

interface Fetched {
  sizeBytes: number;
  sha1?: string;
  sha256?: string;
}

interface DownloadContext extends ResolveModelOptions {
  cacheDir: string;
  name: string;
  expected: ModelChecksum;
}

/**
 * Streams `url` into `partFile`, appending to what an earlier run left when the server honours
 * Range (206 with a matching Content-Range) and starting clean when it does not (200, or 416
 * for a .part the server cannot continue). Memory stays at one network chunk (≈ 16–64 KB)
 * whatever the model size (up to 2.9 GiB for large-v3).
 */
async function downloadToPart(url: string, partFile: string, context: DownloadContext, allowRestart = true): Promise<Fetched> {
  const offset = (await stat(partFile).catch(() => undefined))?.size ?? 0;
  // The kept bytes are hashed before the request, so the connection never idles while a
  // multi-GB prefix is read back.
  const prefixHashes = hashersFor(context.expected);
  if (offset > 0) await hashFile(partFile, prefixHashes, context.signal);
  let response: Response;
  try {
    // identity: fetch would otherwise accept gzip and count decoded bytes against Content-Length.
    const headers: Record<string, string> = { 'accept-encoding': 'identity', ...(offset > 0 ? { range: `bytes=${offset}-` } : {}) };
    response = await fetch(url, { headers, signal: context.signal });
  } catch (error) {
    if (isAbortError(error)) throw error;
    throw downloadFailed(url, context, describeNetworkError(error), error);
  }
  if (offset > 0 && response.status === 416) {
    await response.body?.cancel();
    // "bytes */N" with N = what we have: an earlier run got every byte but stopped before the rename.
    if (contentRangeTotal(response) === offset) {
      context.onProgress?.(offset, offset);
      return digests(offset, prefixHashes);
    }
  }
  const resumed = offset > 0 && response.status === 206 && contentRangeStart(response) === offset;
  // A .part the server cannot continue (416, or a 206 from elsewhere in the file): start over once.
  if (offset > 0 && (response.status === 416 || (response.status === 206 && !resumed)) && allowRestart) {
    await response.body?.cancel();
    await rm(partFile, { force: true });
    return downloadToPart(url, partFile, context, false);
  }
  if (!response.ok || !response.body || (response.status === 206 && !resumed)) {
    await response.body?.cancel();
    throw downloadFailed(url, context, `the server answered HTTP ${response.status}`);
  }
  const hashes = resumed ? prefixHashes : hashersFor(context.expected);
  const length = Number(response.headers.get('content-length') ?? NaN);
  let received = resumed ? offset : 0;
  const total = resumed
    ? (contentRangeTotal(response) ?? (Number.isFinite(length) ? offset + length : undefined))
    : Number.isFinite(length)
      ? length
      : undefined;

  const handle = await open(partFile, resumed ? 'a' : 'w');
  const reader = response.body.getReader();
  let finished = false;
  try {
    context.onProgress?.(received, total);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const hash of Object.values(hashes)) hash.update(value);
      await handle.write(value);
      received += value.byteLength;
      context.onProgress?.(received, total);
    }
    finished = true;
    await handle.sync();
  } catch (error) {
    if (isAbortError(error) || context.signal?.aborted) throw error;
    throw downloadFailed(url, context, `the transfer broke off after ${received} of ${total ?? '?'} bytes (${describeNetworkError(error)})`, error);
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
    await handle.close();
  }
  if (total !== undefined && received !== total) {
    throw downloadFailed(url, context, `the transfer ended after ${received} of ${total} bytes`);
  }
  return digests(received, hashes);
}

function digests(sizeBytes: number, hashes: { sha1?: Hash; sha256?: Hash }): Fetched {
  return { sizeBytes, sha1: hashes.sha1?.digest('hex'), sha256: hashes.sha256?.digest('hex') };
}

function hashersFor(expected: ModelChecksum): { sha1?: Hash; sha256?: Hash } {
  return {
    ...(expected.sha1 ? { sha1: createHash('sha1') } : {}),
    ...(expected.sha256 ? { sha256: createHash('sha256') } : {}),
  };
}

export async function hashFile(file: string, hashes: { sha1?: Hash; sha256?: Hash }, signal: AbortSignal | undefined): Promise<void> {
  if (!hashes.sha1 && !hashes.sha256) return;
  for await (const chunk of createReadStream(file, { signal }) as AsyncIterable<Buffer>) {
    for (const hash of Object.values(hashes)) hash.update(chunk);
  }
}

/** Says what differs, or undefined when the download matches every expected field. */
function checksumMismatch(fetched: Fetched, expected: ModelChecksum): string | undefined {
  if (expected.sizeBytes !== undefined && fetched.sizeBytes !== expected.sizeBytes) {
    return `has ${fetched.sizeBytes} bytes, expected ${expected.sizeBytes}`;
  }
  if (expected.sha1 && fetched.sha1 !== expected.sha1.toLowerCase()) return `has SHA-1 ${fetched.sha1}, expected ${expected.sha1}`;
  if (expected.sha256 && fetched.sha256 !== expected.sha256.toLowerCase()) return `has SHA-256 ${fetched.sha256}, expected ${expected.sha256}`;
  return undefined;
}

function downloadFailed(url: string, context: DownloadContext, reason: string, cause?: unknown): SpeechbridgeError {
  const file = modelFileName(context.name);
  return new SpeechbridgeError(
    'download_failed',
    `could not download ${url}: ${reason}. Run again to resume, or copy ${file} into ${context.cacheDir}, or set WHISPER_MODEL to a file path`,
    { param: 'model', cause },
  );
}

function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return `${cause.code}${cause.message ? `: ${cause.message}` : ''}`;
  return error instanceof Error ? error.message : String(error);
}

/** "bytes 100-199/200" → 100. */
function contentRangeStart(response: Response): number | undefined {
  const match = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
  return match ? Number(match[1]) : undefined;
}

/** "bytes 100-199/200" or "bytes *\/200" → 200. */
function contentRangeTotal(response: Response): number | undefined {
  const match = /^bytes (?:\d+-\d+|\*)\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
  return match ? Number(match[1]) : undefined;
}

async function isFile(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined))?.isFile() ?? false;
}

export function expandHome(given: string): string {
  return given === '~' || given.startsWith('~/') ? path.join(os.homedir(), given.slice(1)) : given;
}

// ── Listing ─────────────────────────────────────────────────────────────────────────────

export interface CachedModel {
  name: string;
  file: string;
  sizeBytes: number;
  /** Has a known checksum (the table or the caller's map). */
  known: boolean;
}

export interface ModelListing {
  cacheDir: string;
  cached: CachedModel[];
  /** Downloads that broke off; the next pull resumes them. */
  partial: CachedModel[];
  /** Names that can be pulled. */
  known: string[];
}

export async function listModels(cacheDir: string, checksums?: Readonly<Record<string, ModelChecksum>>): Promise<ModelListing> {
  const dir = path.resolve(expandHome(cacheDir));
  const knownChecksums = { ...KNOWN_MODELS, ...checksums };
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const cached: CachedModel[] = [];
  const partial: CachedModel[] = [];
  for (const entry of entries) {
    const match = /^ggml-(.+)\.bin(\.part)?$/.exec(entry.name);
    if (!match || !entry.isFile()) continue;
    const file = path.join(dir, entry.name);
    const sizeBytes = (await stat(file)).size;
    const model = { name: match[1], file, sizeBytes, known: match[1] in knownChecksums };
    (match[2] ? partial : cached).push(model);
  }
  const byName = (a: CachedModel, b: CachedModel) => a.name.localeCompare(b.name);
  return { cacheDir: dir, cached: cached.sort(byName), partial: partial.sort(byName), known: Object.keys(knownChecksums) };
}

// ── CLI progress ────────────────────────────────────────────────────────────────────────

export interface ProgressBar {
  /** Pass as ResolveModelOptions.onProgress; the bar finishes itself when received reaches total. */
  onProgress: (received: number, total: number | undefined) => void;
  /** Releases the terminal line after a failure or an unknown size; safe to call twice. */
  stop: () => void;
}

const BAR_WIDTH = 30;

/**
 * A download bar for `speechbridge models pull`, drawn on stderr so stdout stays clean for
 * scripts. cli-progress redraws at most 10 times a second, so per-chunk updates cost nothing.
 * Without a known size it shows the megabytes received.
 */
export function cliProgress(label: string, stream: NodeJS.WritableStream = process.stderr): ProgressBar {
  let totalKnown = false;
  let state: 'idle' | 'drawing' | 'stopped' = 'idle';
  const bar = new SingleBar(
    {
      stream,
      hideCursor: true,
      format: (_options, params) => {
        const megabytes = (params.value / 1e6).toFixed(1);
        const seconds = Math.max((Date.now() - params.startTime) / 1000, 0.001);
        const rate = `${(params.value / 1e6 / seconds).toFixed(1)} MB/s`;
        if (!totalKnown) return `${label} ${megabytes} MB | ${rate}`;
        const done = Math.min(1, params.progress);
        const filled = Math.round(done * BAR_WIDTH);
        return `${label} [${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}] ${Math.floor(done * 100)}% | ${megabytes}/${(params.total / 1e6).toFixed(1)} MB | ${rate}`;
      },
    },
    Presets.shades_classic,
  );
  const stop = () => {
    if (state === 'drawing') bar.stop();
    state = 'stopped';
  };
  return {
    onProgress(received, total) {
      if (state === 'stopped') return;
      totalKnown = total !== undefined;
      if (state === 'idle') {
        state = 'drawing';
        bar.start(total ?? 0, received);
      } else {
        if (total !== undefined) bar.setTotal(total);
        bar.update(received);
      }
      if (total !== undefined && received >= total) stop();
    },
    stop,
  };
}

/** The onProgress callback alone, for callers that never need to stop the bar early. */
export function terminalProgress(label: string, stream: NodeJS.WritableStream = process.stderr): (received: number, total: number | undefined) => void {
  return cliProgress(label, stream).onProgress;
}
