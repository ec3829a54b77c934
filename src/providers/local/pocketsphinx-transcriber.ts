/**
 * The embedded CMU pocketsphinx transcriber (Debian's pocketsphinx + pocketsphinx-en-us), a live
 * recognizer: each turn's audio goes to a `pocketsphinx_continuous` process while the user
 * speaks (pocketsphinx-process.ts), each utterance's text comes out as a delta when the
 * decoder's own voice-activity detector ends it (after 0.5 s of silence), and the final text is
 * ready once the decoder has the last frame: no decoding pass after the commit, and no model
 * loading either, because the process was started before the turn (pocketsphinx-pool.ts).
 * transcribe() takes a whole turn through the same warm processes.
 *
 * Three modes: free dictation with the en-us language model (weak: about 55 % WER on real
 * speech), a JSGF grammar (recognises command phrases exactly), or keyword spotting (reports
 * only the listed phrases, each with its time).
 *
 * Bounds: at most maxConcurrent processes decode at once and maxQueue calls wait for one (the
 * providers' job slots, as whisper and espeak-ng queue; past that engine_busy); a
 * stream holds at most 30 s of audio while it waits, and reads its audio no faster than the
 * decoder takes it once it has one (2 s in flight); the final text must come within timeoutMs
 * (REQUEST_TIMEOUT) of the end of the audio; a process that dies fails only its own turn.
 */
import { constants } from 'node:fs';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { durationMs, type PcmAudio } from '../../audio/pcm.ts';
import { createStreamResampler, resample, type StreamResampler } from '../../audio/resample.ts';
import { abortError, throwIfAborted } from '../../errors/abort.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { JobLoad, Transcriber, TranscriberCapabilities, TranscribeOptions, Transcription, TranscriptStreamEvent } from '../contracts.ts';
import { startDeadline } from '../deadline.ts';
import { languageCode } from '../languages.ts';
import { parsePocketsphinxOutput, PocketsphinxLiveText, toTranscription, type PocketsphinxTextSource } from './pocketsphinx-output.ts';
import { PocketsphinxPool, type PocketsphinxLease } from './pocketsphinx-pool.ts';
import { describeExit, MAX_PENDING_AUDIO_BYTES, PocketsphinxProcess } from './pocketsphinx-process.ts';

export { parsePocketsphinxOutput, type PocketsphinxUtterance, type PocketsphinxWord } from './pocketsphinx-output.ts';

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

/**
 * Processes kept loaded and idle for the next turn. One: a turn takes it and its replacement
 * loads while the turn is spoken; a second turn starting at the same moment gets a process
 * that loads while its own audio is buffered (about 0.6 s of CPU). Each process holds about
 * 100 MB of its own (the en-us models are read into memory, 93 MB private dirty measured), so
 * at most maxConcurrent + warmProcesses of them exist at once.
 */
export const DEFAULT_POCKETSPHINX_WARM_PROCESSES = 1;

/** transcribe() writes a whole turn in 1 s pieces, waiting whenever 2 s are in flight. */
const WHOLE_TURN_CHUNK_SAMPLES = POCKETSPHINX_SAMPLE_RATE;

export interface KeywordSpec {
  phrase: string;
  /** Default DEFAULT_KEYWORD_THRESHOLD; larger means fewer detections. */
  threshold?: number;
}

export type PocketsphinxMode = { type: 'dictation' } | { type: 'grammar'; jsgf: string } | { type: 'keywords'; keywords: KeywordSpec[] };

export interface PocketsphinxTranscriberOptions {
  /** JSGF grammar text; a bare rule list gets the `#JSGF V1.0; grammar …;` header added. */
  grammar?: string;
  /** Phrases to spot: `{ phrase, threshold }`, or strings, optionally in pocketsphinx's `phrase/1e-20/` form. */
  keywords?: Array<string | KeywordSpec>;
  /** Per call (REQUEST_TIMEOUT): transcribe() in total; a stream from the end of its audio. */
  timeoutMs: number;
  binary?: string;
  /** Holds en-us/ (acoustic model), cmudict-en-us.dict and en-us.lm.bin. */
  modelDir?: string;
  maxConcurrent?: number;
  maxQueue?: number;
  /** Idle processes kept loaded (DEFAULT_POCKETSPHINX_WARM_PROCESSES); 0 starts one per turn. */
  warmProcesses?: number;
}

export interface PocketsphinxInstallation {
  binary: string;
  modelDir: string;
}

/** Start-up check: the binary on PATH, bash (which gives it a pipe to read) and the en-us model files. */
export async function checkPocketsphinx(options: { binary?: string; modelDir?: string } = {}): Promise<PocketsphinxInstallation> {
  const binaryName = options.binary ?? POCKETSPHINX_BINARY;
  const binary = await findExecutable(binaryName);
  if (!binary) throw new SpeechbridgeError('engine_unavailable', `pocketsphinx was not found (no ${binaryName} on PATH): ${INSTALL_HINT}`);
  if (!(await findExecutable('bash')))
    throw new SpeechbridgeError('engine_unavailable', 'pocketsphinx is started through bash, which is not on PATH: install bash');
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
 * so a grammar that does not parse or a word missing from the dictionary fails at start-up;
 * then starts the warm processes.
 */
export async function createPocketsphinxTranscriber(options: PocketsphinxTranscriberOptions): Promise<PocketsphinxTranscriber> {
  const installation = await checkPocketsphinx(options);
  const mode = modeFromOptions(options);
  const files = await prepareMode(installation, mode);
  const transcriber = new PocketsphinxTranscriber(installation, mode, files, options);
  try {
    if (mode.type !== 'dictation') {
      await transcriber.transcribe({ samples: new Int16Array(POCKETSPHINX_SAMPLE_RATE / 2), sampleRate: POCKETSPHINX_SAMPLE_RATE });
    }
  } catch (error) {
    await transcriber.close();
    throw error;
  }
  transcriber.warmUp();
  return transcriber;
}

export function modeFromOptions(options: Pick<PocketsphinxTranscriberOptions, 'grammar' | 'keywords'>): PocketsphinxMode {
  const hasKeywords = options.keywords !== undefined && options.keywords.length > 0;
  if (options.grammar && hasKeywords) {
    throw new SpeechbridgeError(
      'invalid_config',
      'pocketsphinx takes a grammar or keywords, not both: set only one of POCKETSPHINX_GRAMMAR and POCKETSPHINX_KEYWORDS',
    );
  }
  if (options.grammar) return { type: 'grammar', jsgf: options.grammar };
  if (hasKeywords) return { type: 'keywords', keywords: options.keywords!.map(toKeywordSpec) };
  return { type: 'dictation' };
}

/** A mode's command-line arguments, and the grammar or keyword file they name while processes may read it. */
export interface PreparedMode {
  args: string[];
  dispose(): Promise<void>;
}

/** What one turn does with its events; a stream hands them to its reader, transcribe() keeps the last. */
type EventSink = (event: TranscriptStreamEvent) => void;

export class PocketsphinxTranscriber implements Transcriber {
  readonly name = 'pocketsphinx';
  readonly capabilities: TranscriberCapabilities = {
    streaming: true,
    languageDetection: false,
    segments: true,
    sampleRate: POCKETSPHINX_SAMPLE_RATE,
    languages: ['en'],
  };
  readonly mode: PocketsphinxMode;
  readonly #installation: PocketsphinxInstallation;
  readonly #prepared: PreparedMode;
  readonly #timeoutMs: number;
  readonly #pool: PocketsphinxPool;
  #closing: Promise<void> | undefined;

  /** Use createPocketsphinxTranscriber, which checks the installation and the mode first. */
  constructor(installation: PocketsphinxInstallation, mode: PocketsphinxMode, prepared: PreparedMode, options: PocketsphinxTranscriberOptions) {
    this.#installation = installation;
    this.mode = mode;
    this.#prepared = prepared;
    this.#timeoutMs = options.timeoutMs;
    this.#pool = new PocketsphinxPool({
      start: () => new PocketsphinxProcess(installation.binary, prepared.args),
      warmProcesses: options.warmProcesses ?? DEFAULT_POCKETSPHINX_WARM_PROCESSES,
      maxConcurrent: options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT,
      maxQueue: options.maxQueue ?? DEFAULT_POCKETSPHINX_MAX_QUEUE,
    });
  }

  /** Starts the warm processes. */
  warmUp(): void {
    if (!this.#closing) this.#pool.warmUp();
  }

  /** Pids of the running pocketsphinx processes, idle and busy (for tests and diagnostics). */
  get processIds(): number[] {
    return this.#pool.processIds;
  }

  /** Processes loaded and waiting for a turn. */
  get idleProcesses(): number {
    return this.#pool.idleCount;
  }

  /** Calls waiting for a process slot (at most maxQueue). */
  get queued(): number {
    return this.#pool.jobs.waiting;
  }

  get jobs(): JobLoad {
    return this.#pool.jobs;
  }

  transcribe(audio: PcmAudio, options: TranscribeOptions = {}): Promise<Transcription> {
    return this.transcribeWith(audio, this.mode, options);
  }

  /** One call with another mode (e.g. a grammar for the current dialogue state); it starts its own process. */
  async transcribeWith(audio: PcmAudio, mode: PocketsphinxMode, options: TranscribeOptions = {}): Promise<Transcription> {
    throwIfAborted(options.signal);
    checkLanguage(options);
    if (audio.samples.length === 0) throw new SpeechbridgeError('empty_input', 'the audio to transcribe is empty');
    const deadline = startDeadline(this.#timeoutMs, options.signal);
    const prepared = mode === this.mode ? undefined : await prepareMode(this.#installation, mode);
    let completed: Transcription | undefined;
    try {
      const input = audio.sampleRate === POCKETSPHINX_SAMPLE_RATE ? audio : await resample(audio, POCKETSPHINX_SAMPLE_RATE);
      await this.#runTurn(wholeTurn(input), mode, prepared, { ...options, signal: deadline.signal }, { acquireFirst: true }, (event) => {
        if (event.type === 'completed') completed = event.transcription;
      });
      if (!completed) throw new SpeechbridgeError('engine_failed', 'pocketsphinx ended without a transcription');
      // The duration of the audio as given, not as resampled.
      return { ...completed, durationMs: durationMs(audio) };
    } catch (error) {
      if (deadline.timedOut()) throw deadline.translate(error, 'pocketsphinx transcription');
      if (deadline.signal.aborted) throw abortError(deadline.signal.reason, 'the transcription was aborted');
      throw error;
    } finally {
      deadline.dispose();
      await prepared?.dispose();
    }
  }

  /**
   * A live turn: frames go to a warm process as they come (16 kHz; other rates are resampled
   * here), each ended utterance's text comes out as a delta, and the final text follows the
   * end of `audio` once the decoder has caught up. A turn with no audio completes with no text.
   */
  async *transcribeStream(audio: AsyncIterable<PcmAudio>, options: TranscribeOptions = {}): AsyncIterable<TranscriptStreamEvent> {
    throwIfAborted(options.signal);
    checkLanguage(options);
    const controller = new AbortController();
    const onCallerAbort = () => controller.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', onCallerAbort, { once: true });
    // Deltas are one per utterance (at most one per 0.5 s of audio, and the process's output is
    // capped at 1 MiB), so this queue needs no bound of its own.
    const queue: TranscriptStreamEvent[] = [];
    let wake: (() => void) | undefined;
    let outcome: { error: unknown } | 'done' | undefined;
    const run = this.#runTurn(audio, this.mode, undefined, { ...options, signal: controller.signal }, { acquireFirst: false }, (event) => {
      queue.push(event);
      wake?.();
    }).then(
      () => {
        outcome = 'done';
        wake?.();
      },
      (error: unknown) => {
        outcome = { error };
        wake?.();
      },
    );
    try {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (outcome === 'done') return;
        if (outcome) throw outcome.error;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      options.signal?.removeEventListener('abort', onCallerAbort);
      // A reader that stops early (barge-in, session closed) ends the turn and its process.
      controller.abort(abortError(undefined, 'the transcription stream was closed'));
      await run;
    }
  }

  /** Kills every process (idle and busy: their turns end with an AbortError) and removes the mode's files. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#pool.close();
      await this.#prepared.dispose();
    })();
    return this.#closing;
  }

  /**
   * One turn on one process. `acquireFirst`: take the process before reading any audio (a whole
   * turn that is all there already); otherwise read audio at once, holding up to 30 s of it
   * while every process is busy. The final-text deadline (timeoutMs) starts when `audio` ends.
   */
  async #runTurn(
    audio: AsyncIterable<PcmAudio>,
    mode: PocketsphinxMode,
    prepared: PreparedMode | undefined,
    options: TranscribeOptions,
    how: { acquireFirst: boolean },
    emit: EventSink,
  ): Promise<void> {
    const callerSignal = options.signal ?? new AbortController().signal;
    // One signal for the turn: the caller's abort, or the deadline after the end of the audio.
    const turn = new AbortController();
    const signal = turn.signal;
    let timedOut = false;
    const onCallerAbort = () => turn.abort(callerSignal.reason);
    if (callerSignal.aborted) onCallerAbort();
    else callerSignal.addEventListener('abort', onCallerAbort, { once: true });
    let endTimer: NodeJS.Timeout | undefined;
    let finished = false;
    let lease: PocketsphinxLease | undefined;
    const feed = new TurnFeed();
    try {
      const acquire = () =>
        this.#pool.acquire({
          signal,
          bestEffort: options.bestEffort === true,
          ...(prepared ? { start: () => new PocketsphinxProcess(this.#installation.binary, prepared.args) } : {}),
        });
      if (how.acquireFirst) feed.attach((lease = await acquire()).process);
      const pumped = feed.pump(audio, signal).then(() => {
        if (finished) return;
        endTimer = setTimeout(() => {
          timedOut = true;
          turn.abort(new DOMException(`timed out after ${this.#timeoutMs} ms`, 'TimeoutError'));
        }, this.#timeoutMs);
      });
      // A failure of the pump (the audio source, a decoder that stopped) ends the wait for a slot too.
      pumped.catch(() => {});
      if (!lease) {
        let abandoned = false;
        const acquiring = acquire();
        // A slot granted after the pump failed is handed straight back.
        acquiring.then(
          (late) => abandoned && late.release(),
          () => {},
        );
        try {
          lease = await Promise.race([acquiring, pumped.then(() => new Promise<never>(() => {}))]);
        } catch (error) {
          abandoned = true;
          throw error;
        }
        feed.attach(lease.process);
      }
      const decoder = lease.process;
      const live = new PocketsphinxLiveText(textSource(mode));
      decoder.onLine((line) => {
        const piece = live.push(line);
        if (piece) emit({ type: 'delta', text: piece });
      });
      const crashed = decoder.exited.then((exit) => {
        // A failure of our own making (shut down, too much output) says what it was; anything else is a crash.
        if (exit.failure !== undefined) throw exit.failure;
        throw new SpeechbridgeError('engine_failed', `${describeExit(exit)} (mid-turn)`);
      });
      crashed.catch(() => {});
      await Promise.race([pumped, crashed, whenAborted(signal)]);
      if (feed.samples === 0) {
        emit({ type: 'completed', transcription: { text: '', language: 'en', durationMs: 0, segments: [] } });
        return;
      }
      decoder.endInput();
      const exit = await Promise.race([decoder.exited, whenAborted(signal)]);
      if (exit.failure !== undefined) throw exit.failure;
      if (exit.code !== 0 || exit.signal) throw new SpeechbridgeError('engine_failed', describeExit(exit));
      const audioMs = (feed.samples * 1000) / POCKETSPHINX_SAMPLE_RATE;
      emit({ type: 'completed', transcription: toTranscription(parsePocketsphinxOutput(exit.stdout), textSource(mode), audioMs) });
    } catch (error) {
      if (timedOut && !callerSignal.aborted) {
        throw new SpeechbridgeError(
          'upstream_timeout',
          `pocketsphinx gave no final text within ${this.#timeoutMs} ms of the end of the audio (REQUEST_TIMEOUT)`,
          {
            cause: error,
          },
        );
      }
      if (callerSignal.aborted) throw abortError(callerSignal.reason, 'the transcription was aborted');
      throw error;
    } finally {
      finished = true;
      clearTimeout(endTimer);
      callerSignal.removeEventListener('abort', onCallerAbort);
      lease?.process.onLine(undefined);
      lease?.release();
      feed.close();
    }
  }
}

/**
 * The audio side of one turn: reads frames (resampling any that are not at 16 kHz), holds them
 * while no process is attached (up to MAX_PENDING_AUDIO_BYTES), and then writes them through,
 * at the pace the decoder takes them.
 */
class TurnFeed {
  samples = 0;
  #process: PocketsphinxProcess | undefined;
  #pending: Int16Array[] = [];
  #pendingBytes = 0;
  #resampler: StreamResampler | undefined;

  attach(decoder: PocketsphinxProcess): void {
    this.#process = decoder;
    for (const samples of this.#pending) decoder.write(samples);
    this.#pending = [];
    this.#pendingBytes = 0;
  }

  async pump(audio: AsyncIterable<PcmAudio>, signal: AbortSignal): Promise<void> {
    for await (const frame of audio) {
      if (signal.aborted) throw abortError(signal.reason);
      await this.#take(await this.#to16k(frame));
    }
    if (this.#resampler) await this.#take(this.#resampler.flush());
  }

  close(): void {
    this.#resampler?.close();
    this.#pending = [];
  }

  async #to16k(frame: PcmAudio): Promise<Int16Array> {
    if (frame.sampleRate === POCKETSPHINX_SAMPLE_RATE) return frame.samples;
    if (this.#resampler && this.#resampler.fromRate !== frame.sampleRate) {
      throw new SpeechbridgeError('internal_error', `audio for pocketsphinx changed rate mid-turn (${this.#resampler.fromRate} → ${frame.sampleRate} Hz)`);
    }
    this.#resampler ??= await createStreamResampler(frame.sampleRate, POCKETSPHINX_SAMPLE_RATE);
    return this.#resampler.push(frame.samples);
  }

  async #take(samples: Int16Array): Promise<void> {
    if (samples.length === 0) return;
    this.samples += samples.length;
    if (this.#process) {
      await this.#process.writeWithBackpressure(samples);
      return;
    }
    this.#pendingBytes += samples.byteLength;
    if (this.#pendingBytes > MAX_PENDING_AUDIO_BYTES) {
      throw new SpeechbridgeError(
        'engine_busy',
        `no pocketsphinx process became free within ${MAX_PENDING_AUDIO_BYTES / 32_000} s of audio; every one is busy`,
      );
    }
    this.#pending.push(samples.slice());
  }
}

function checkLanguage(options: TranscribeOptions): void {
  if (options.language && languageCode(options.language) !== 'en') {
    throw new SpeechbridgeError('invalid_value', `pocketsphinx transcribes English only, not "${options.language}"`, { param: 'language' });
  }
}

function textSource(mode: PocketsphinxMode): PocketsphinxTextSource {
  return mode.type === 'keywords' ? 'keywords' : 'hypotheses';
}

/** Never resolves; rejects with an AbortError when the signal fires. */
function whenAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(abortError(signal.reason));
    else signal.addEventListener('abort', () => reject(abortError(signal.reason)), { once: true });
  });
}

async function* wholeTurn(audio: PcmAudio): AsyncIterable<PcmAudio> {
  for (let offset = 0; offset < audio.samples.length; offset += WHOLE_TURN_CHUNK_SAMPLES) {
    yield { samples: audio.samples.subarray(offset, offset + WHOLE_TURN_CHUNK_SAMPLES), sampleRate: audio.sampleRate };
  }
}

/** Writes a grammar or keyword file into a folder of its own, read by every process of the mode. */
async function prepareMode(installation: PocketsphinxInstallation, mode: PocketsphinxMode): Promise<PreparedMode> {
  const { modelDir } = installation;
  const args = ['-time', 'yes', '-hmm', path.join(modelDir, 'en-us'), '-dict', path.join(modelDir, 'cmudict-en-us.dict')];
  if (mode.type === 'dictation') {
    args.push('-lm', path.join(modelDir, 'en-us.lm.bin'));
    return { args, dispose: async () => {} };
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-pocketsphinx-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    if (mode.type === 'grammar') {
      await writeFile(path.join(dir, 'grammar.gram'), withJsgfHeader(mode.jsgf));
      args.push('-jsgf', path.join(dir, 'grammar.gram'));
    } else {
      await writeFile(path.join(dir, 'keywords.txt'), keywordFile(mode.keywords));
      args.push('-kws', path.join(dir, 'keywords.txt'));
    }
  } catch (error) {
    await dispose();
    throw error;
  }
  return { args, dispose };
}

// ── Helpers ─────────────────────────────────────────────────────────────────────────────

function toKeywordSpec(keyword: string | KeywordSpec): KeywordSpec {
  const spec = typeof keyword === 'string' ? parseKeyword(keyword) : keyword;
  const phrase = spec.phrase.trim().toLowerCase().replace(/\s+/g, ' ');
  if (!phrase || /[/\n]/.test(phrase))
    throw new SpeechbridgeError('invalid_config', `keyword "${spec.phrase}" must be a non-empty phrase without "/" or line breaks`);
  const threshold = spec.threshold ?? DEFAULT_KEYWORD_THRESHOLD;
  if (!Number.isFinite(threshold) || threshold <= 0)
    throw new SpeechbridgeError('invalid_config', `keyword "${phrase}" has threshold ${threshold}; give a positive number such as 1e-20`);
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
  const candidates = name.includes('/')
    ? [path.resolve(name)]
    : (process.env.PATH ?? '')
        .split(path.delimiter)
        .filter(Boolean)
        .map((dir) => path.join(dir, name));
  for (const candidate of candidates) {
    const found = await access(candidate, constants.X_OK).then(
      () => true,
      () => false,
    );
    if (found) return candidate;
  }
  return undefined;
}
