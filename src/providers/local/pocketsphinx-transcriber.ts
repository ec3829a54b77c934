/**
 * The embedded CMU pocketsphinx transcriber (Debian's pocketsphinx + pocketsphinx-en-us).
 * Each call runs `pocketsphinx_continuous` on a temporary 16 kHz WAV file and parses the
 * hypotheses it prints. Three modes: free dictation with the en-us language model (weak: about
 * 55 % WER on real speech), a JSGF grammar (recognises command phrases exactly), or keyword
 * spotting (reports only the listed phrases, each with its time).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { durationMs, type PcmAudio } from '../../audio/pcm.ts';
import { resample } from '../../audio/resample.ts';
import { writeWav } from '../../audio/wav.ts';
import { abortError, throwIfAborted } from '../../errors/abort.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import { JobSlots } from '../base/job-slots.ts';
import type { Transcriber, TranscriberCapabilities, TranscribeOptions, Transcription, TranscriptSegment } from '../contracts.ts';
import { startDeadline } from '../deadline.ts';
import { languageCode } from '../languages.ts';

export const POCKETSPHINX_BINARY = 'pocketsphinx_continuous';
export const DEFAULT_POCKETSPHINX_MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';
export const POCKETSPHINX_SAMPLE_RATE = 16_000;

const INSTALL_HINT = 'install it with `apt-get install pocketsphinx pocketsphinx-en-us`';

/**
 * Keyword threshold (pocketsphinx's p(phrase)/p(alternatives)). 1e-20, measured on the shared
 * recordings: two-word phrases ("birch canoe", "your country") were found every time they were
 * spoken and never in the other clips; a lone short word ("canoe") gives false alarms at any
 * threshold under 1e-5, so give such words their own threshold or use longer phrases.
 */
export const DEFAULT_KEYWORD_THRESHOLD = 1e-20;

/** Decodes run in parallel up to the core count: each is one single-threaded process. */
const DEFAULT_MAX_CONCURRENT = os.availableParallelism();

/** Calls that may wait for a free process slot before failing with engine_busy. */
export const DEFAULT_POCKETSPHINX_MAX_QUEUE = 16;

/** Hypothesis text is a few bytes per second of speech; 1 MiB means something else is printing. */
const MAX_OUTPUT_BYTES = 1 << 20;

export interface KeywordSpec {
  phrase: string;
  /** Default DEFAULT_KEYWORD_THRESHOLD; larger means fewer detections. */
  threshold?: number;
}

export type PocketsphinxMode =
  | { type: 'dictation' }
  | { type: 'grammar'; jsgf: string }
  | { type: 'keywords'; keywords: KeywordSpec[] };

export interface PocketsphinxTranscriberOptions {
  /** JSGF grammar text; a bare rule list gets the `#JSGF V1.0; grammar …;` header added. */
  grammar?: string;
  /** Phrases to spot: `{ phrase, threshold }`, or strings, optionally in pocketsphinx's `phrase/1e-20/` form. */
  keywords?: Array<string | KeywordSpec>;
  /** Per call (REQUEST_TIMEOUT). */
  timeoutMs: number;
  binary?: string;
  /** Holds en-us/ (acoustic model), cmudict-en-us.dict and en-us.lm.bin. */
  modelDir?: string;
  maxConcurrent?: number;
  maxQueue?: number;
}

export interface PocketsphinxInstallation {
  binary: string;
  modelDir: string;
}

/** Start-up check: the binary on PATH and the en-us model files present. */
export async function checkPocketsphinx(options: { binary?: string; modelDir?: string } = {}): Promise<PocketsphinxInstallation> {
  const binaryName = options.binary ?? POCKETSPHINX_BINARY;
  const binary = await findExecutable(binaryName);
  if (!binary) throw new SpeechbridgeError('engine_unavailable', `pocketsphinx was not found (no ${binaryName} on PATH): ${INSTALL_HINT}`);
  const modelDir = options.modelDir ?? DEFAULT_POCKETSPHINX_MODEL_DIR;
  for (const file of modelFiles(modelDir)) {
    const present = await access(file, constants.R_OK).then(
      () => true,
      () => false,
    );
    if (!present) throw new SpeechbridgeError('engine_unavailable', `the pocketsphinx en-us model is incomplete (${file} is missing): ${INSTALL_HINT}`);
  }
  return { binary, modelDir };
}

/**
 * Checks the installation and, with a grammar or keywords, decodes 0.5 s of silence with them,
 * so a grammar that does not parse or a word missing from the dictionary fails at start-up.
 */
export async function createPocketsphinxTranscriber(options: PocketsphinxTranscriberOptions): Promise<PocketsphinxTranscriber> {
  const installation = await checkPocketsphinx(options);
  const transcriber = new PocketsphinxTranscriber(installation, modeFromOptions(options), options);
  if (transcriber.mode.type !== 'dictation') {
    await transcriber.transcribe({ samples: new Int16Array(POCKETSPHINX_SAMPLE_RATE / 2), sampleRate: POCKETSPHINX_SAMPLE_RATE });
  }
  return transcriber;
}

export function modeFromOptions(options: Pick<PocketsphinxTranscriberOptions, 'grammar' | 'keywords'>): PocketsphinxMode {
  const hasKeywords = options.keywords !== undefined && options.keywords.length > 0;
  if (options.grammar && hasKeywords) {
    throw new SpeechbridgeError('invalid_config', 'pocketsphinx takes a grammar or keywords, not both: set only one of POCKETSPHINX_GRAMMAR and POCKETSPHINX_KEYWORDS');
  }
  if (options.grammar) return { type: 'grammar', jsgf: options.grammar };
  if (hasKeywords) return { type: 'keywords', keywords: options.keywords!.map(toKeywordSpec) };
  return { type: 'dictation' };
}

export class PocketsphinxTranscriber implements Transcriber {
  readonly name = 'pocketsphinx';
  readonly capabilities: TranscriberCapabilities = {
    streaming: false,
    languageDetection: false,
    segments: true,
    sampleRate: POCKETSPHINX_SAMPLE_RATE,
    languages: ['en'],
  };
  readonly mode: PocketsphinxMode;
  private readonly installation: PocketsphinxInstallation;
  private readonly timeoutMs: number;
  /** One slot per decoding process. */
  private readonly slots: JobSlots;

  /** Use createPocketsphinxTranscriber, which checks the installation first. */
  constructor(installation: PocketsphinxInstallation, mode: PocketsphinxMode, options: PocketsphinxTranscriberOptions) {
    this.installation = installation;
    this.mode = mode;
    this.timeoutMs = options.timeoutMs;
    this.slots = new JobSlots({
      slots: options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT,
      maxWaiting: options.maxQueue ?? DEFAULT_POCKETSPHINX_MAX_QUEUE,
      engine: 'pocketsphinx',
    });
  }

  transcribe(audio: PcmAudio, options: TranscribeOptions = {}): Promise<Transcription> {
    return this.transcribeWith(audio, this.mode, options);
  }

  /** One call with another mode (e.g. a grammar for the current dialogue state). */
  async transcribeWith(audio: PcmAudio, mode: PocketsphinxMode, options: TranscribeOptions = {}): Promise<Transcription> {
    throwIfAborted(options.signal);
    if (options.language && languageCode(options.language) !== 'en') {
      throw new SpeechbridgeError('invalid_value', `pocketsphinx transcribes English only, not "${options.language}"`, { param: 'language' });
    }
    if (audio.samples.length === 0) throw new SpeechbridgeError('empty_input', 'the audio to transcribe is empty');
    const audioMs = durationMs(audio);
    const deadline = startDeadline(this.timeoutMs, options.signal);
    try {
      const release = await this.slots.acquire({ signal: deadline.signal, bestEffort: options.bestEffort });
      try {
        const input = audio.sampleRate === POCKETSPHINX_SAMPLE_RATE ? audio : await resample(audio, POCKETSPHINX_SAMPLE_RATE);
        const output = await this.decode(input, mode, deadline.signal);
        return toTranscription(parsePocketsphinxOutput(output), mode, audioMs);
      } finally {
        release();
      }
    } catch (error) {
      if (deadline.timedOut()) throw deadline.translate(error, 'pocketsphinx transcription');
      if (deadline.signal.aborted) throw abortError(deadline.signal.reason, 'the transcription was aborted');
      throw error;
    } finally {
      deadline.dispose();
    }
  }

  private async decode(audio: PcmAudio, mode: PocketsphinxMode, signal: AbortSignal): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-pocketsphinx-'));
    try {
      const wavFile = path.join(dir, 'audio.wav');
      const logFile = path.join(dir, 'log.txt');
      await writeFile(wavFile, writeWav(audio));
      const { modelDir } = this.installation;
      const args = ['-infile', wavFile, '-logfn', logFile, '-time', 'yes', '-hmm', path.join(modelDir, 'en-us'), '-dict', path.join(modelDir, 'cmudict-en-us.dict')];
      switch (mode.type) {
        case 'dictation':
          args.push('-lm', path.join(modelDir, 'en-us.lm.bin'));
          break;
        case 'grammar':
          await writeFile(path.join(dir, 'grammar.gram'), withJsgfHeader(mode.jsgf));
          args.push('-jsgf', path.join(dir, 'grammar.gram'));
          break;
        case 'keywords':
          await writeFile(path.join(dir, 'keywords.txt'), keywordFile(mode.keywords));
          args.push('-kws', path.join(dir, 'keywords.txt'));
          break;
      }
      const result = await runProcess(this.installation.binary, args, signal);
      if (result.code !== 0) {
        const log = await readFile(logFile, 'utf8').catch(() => '');
        const errors = log.split('\n').filter((line) => /^(ERROR|FATAL)/.test(line)).slice(0, 5).join('; ');
        throw new SpeechbridgeError('engine_failed', `pocketsphinx exited with ${result.code}: ${errors || result.stderr.trim() || 'no error message'}`);
      }
      return result.stdout;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

// ── Output parsing ──────────────────────────────────────────────────────────────────────

export interface PocketsphinxWord {
  word: string;
  startMs: number;
  endMs: number;
}

export interface PocketsphinxUtterance {
  hypothesis: string;
  words: PocketsphinxWord[];
}

/** `word start end confidence`, times in seconds; a keyphrase may hold spaces. */
const WORD_LINE = /^(.+?)\s+(\d+\.\d+)\s+(\d+\.\d+)\s+(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)$/;

/**
 * With `-time yes` pocketsphinx_continuous prints, per utterance, the hypothesis line and
 * then one timing line per word (dictation: framed by `<s>` … `</s>`; keyword mode: one line
 * per detected phrase).
 */
export function parsePocketsphinxOutput(stdout: string): PocketsphinxUtterance[] {
  const utterances: PocketsphinxUtterance[] = [];
  for (const line of stdout.split('\n')) {
    const match = WORD_LINE.exec(line.trim());
    if (match && utterances.length > 0) {
      utterances[utterances.length - 1].words.push({
        word: match[1],
        startMs: Math.round(Number(match[2]) * 1000),
        endMs: Math.round(Number(match[3]) * 1000),
      });
    } else if (!match) {
      utterances.push({ hypothesis: line.trim(), words: [] });
    }
  }
  return utterances.filter((utterance) => utterance.hypothesis.length > 0 || utterance.words.length > 0);
}

/** `<s>`, `</s>`, `<sil>`, `[NOISE]`, `++BREATH++`: timing lines that are not words. */
function isFiller(word: string): boolean {
  return /^<.*>$|^\[.*\]$|^\+\+.*\+\+$/.test(word);
}

function toTranscription(utterances: PocketsphinxUtterance[], mode: PocketsphinxMode, audioMs: number): Transcription {
  const clamp = (ms: number) => Math.min(Math.max(ms, 0), audioMs);
  let segments: TranscriptSegment[];
  if (mode.type === 'keywords') {
    segments = utterances.flatMap((utterance) =>
      utterance.words.map((word) => ({ startMs: clamp(word.startMs), endMs: clamp(word.endMs), text: word.word.trim() })),
    );
  } else {
    segments = utterances
      .filter((utterance) => utterance.hypothesis.length > 0)
      .map((utterance) => {
        const spoken = utterance.words.filter((word) => !isFiller(word.word));
        const timed = spoken.length > 0 ? spoken : utterance.words;
        return {
          startMs: clamp(timed[0]?.startMs ?? 0),
          endMs: clamp(timed[timed.length - 1]?.endMs ?? audioMs),
          text: utterance.hypothesis,
        };
      });
  }
  return { text: segments.map((segment) => segment.text).join(' '), language: 'en', durationMs: audioMs, segments };
}

// ── Helpers ─────────────────────────────────────────────────────────────────────────────

function toKeywordSpec(keyword: string | KeywordSpec): KeywordSpec {
  const spec = typeof keyword === 'string' ? parseKeyword(keyword) : keyword;
  const phrase = spec.phrase.trim().toLowerCase().replace(/\s+/g, ' ');
  if (!phrase || /[/\n]/.test(phrase)) throw new SpeechbridgeError('invalid_config', `keyword "${spec.phrase}" must be a non-empty phrase without "/" or line breaks`);
  const threshold = spec.threshold ?? DEFAULT_KEYWORD_THRESHOLD;
  if (!Number.isFinite(threshold) || threshold <= 0) throw new SpeechbridgeError('invalid_config', `keyword "${phrase}" has threshold ${threshold}; give a positive number such as 1e-20`);
  return { phrase, threshold };
}

/** "hey computer/1e-30/" → { phrase: "hey computer", threshold: 1e-30 }. */
function parseKeyword(text: string): KeywordSpec {
  const match = /^(.*?)\s*\/([^/]+)\/\s*$/.exec(text);
  if (!match) return { phrase: text };
  const threshold = Number(match[2]);
  if (Number.isNaN(threshold)) throw new SpeechbridgeError('invalid_config', `keyword "${text}" has a threshold that is not a number`);
  return { phrase: match[1], threshold };
}

function keywordFile(keywords: KeywordSpec[]): string {
  return keywords
    .map(toKeywordSpec)
    .map((keyword) => `${keyword.phrase} /${keyword.threshold}/\n`)
    .join('');
}

function withJsgfHeader(jsgf: string): string {
  return /^\s*#JSGF/.test(jsgf) ? jsgf : `#JSGF V1.0;\ngrammar speechbridge;\n${jsgf}\n`;
}

function modelFiles(modelDir: string): string[] {
  return [path.join(modelDir, 'en-us', 'mdef'), path.join(modelDir, 'cmudict-en-us.dict'), path.join(modelDir, 'en-us.lm.bin')];
}

async function findExecutable(name: string): Promise<string | undefined> {
  const candidates = name.includes('/') ? [path.resolve(name)] : (process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, name));
  for (const candidate of candidates) {
    const found = await access(candidate, constants.X_OK).then(
      () => true,
      () => false,
    );
    if (found) return candidate;
  }
  return undefined;
}

interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs to completion; an abort kills the process (SIGKILL: decoding holds no state worth a clean exit). */
function runProcess(binary: string, args: string[], signal: AbortSignal): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let outputBytes = 0;
    let failure: unknown;
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      outputBytes += chunk.length;
      if (outputBytes > MAX_OUTPUT_BYTES) {
        failure ??= new SpeechbridgeError('engine_failed', `pocketsphinx printed more than ${MAX_OUTPUT_BYTES} bytes`);
        child.kill('SIGKILL');
        return;
      }
      into.push(chunk);
    };
    child.stdout.on('data', collect(stdout));
    child.stderr.on('data', collect(stderr));
    const onAbort = () => {
      failure ??= signal.reason;
      child.kill('SIGKILL');
    };
    signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error: NodeJS.ErrnoException) => {
      failure ??= error.code === 'ENOENT' ? new SpeechbridgeError('engine_unavailable', `pocketsphinx was not found: ${INSTALL_HINT}`) : error;
    });
    child.on('close', (code) => {
      signal.removeEventListener('abort', onAbort);
      if (failure !== undefined) reject(failure);
      else resolve({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
    });
  });
}
