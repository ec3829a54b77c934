/**
 * Speech recognition on a Wyoming server (wyoming-faster-whisper, wyoming-whisper-cpp, vosk…,
 * WYOMING_ASR_URI, port 10300 by default), one connection per transcription:
 *
 *   → transcribe {language?, name?}   → audio-start {rate, width 2, channels 1}
 *   → audio-chunk … (each frame as it is spoken)   → audio-stop
 *   ← transcript {text, language?}
 *
 * and, from a server whose `info` announces `supports_transcript_streaming`, partial text while
 * the audio streams: ← transcript-start, ← transcript-chunk {text} (append-only pieces, passed on
 * as deltas), then ← transcript (the final text) and ← transcript-stop.
 *
 * transcribeStream sends each frame on as it arrives, so even a server that answers only at the
 * end has the whole turn when the turn ends, and its final text is ready as soon as it has
 * decoded: no upload after the commit. transcribe() is the same exchange with a whole turn.
 *
 * Waits: the connection at most REQUEST_TIMEOUT; while audio is still coming nothing is expected
 * back; after audio-stop the server must answer within REQUEST_TIMEOUT (and, when it streams,
 * never be silent longer). transcribe() takes at most REQUEST_TIMEOUT in total.
 *
 * The model and languages come from the server's `info` (read at start-up, create()): a client's
 * `model` is sent as the `transcribe` event's `name` only when the server lists it (OpenAI
 * clients send "whisper-1", which a Wyoming server does not know), and its `language` as given.
 */
import { int16ToBytes, type PcmAudio } from '../../audio/pcm.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { TranscribeOptions, Transcriber, TranscriberCapabilities, Transcription, TranscriptStreamEvent } from '../contracts.ts';
import { startDeadline } from '../deadline.ts';
import { throwIfAborted } from '../../errors/abort.ts';
import { languageCode } from '../languages.ts';
import type { WyomingAddress } from './address.ts';
import { WyomingConnection } from './connection.ts';
import type { FrameLimits, WyomingEvent } from './framing.ts';
import { errorEventToError, parseTranscript, parseTranscriptChunk, parseTranscriptStart, type WyomingAsrModel, type WyomingAsrProgram } from './messages.ts';
import { describeAtStartup } from './startup-failure.ts';

/** Wyoming speech recognition servers take 16 kHz (faster-whisper converts anything to it). */
export const WYOMING_ASR_SAMPLE_RATE = 16_000;

/** transcribe() sends a whole turn in 100 ms chunks (3200 bytes): few events, none large. */
const WHOLE_TURN_CHUNK_MS = 100;

const ROLE = 'speech recognition';

/** Handed to the reader, by identity, when the turn had no audio at all (nothing was sent). */
const NO_AUDIO: WyomingEvent = Object.freeze({ type: 'no-audio', data: {} });

export interface WyomingTranscriberOptions {
  address: WyomingAddress;
  /** REQUEST_TIMEOUT in ms. */
  timeoutMs: number;
  /** The variable that holds the address, named in start-up failures (WYOMING_ASR_URI). */
  uriSetting?: string;
  limits?: Partial<FrameLimits>;
}

/** What a running stream shares with its audio pump. */
interface StreamState {
  /** The final text came (or the stream was left): the pump stops sending. */
  done: boolean;
  samplesSent: number;
  sampleRate: number;
}

export class WyomingTranscriber implements Transcriber {
  readonly name = 'wyoming';
  readonly upstream: string;
  readonly capabilities: TranscriberCapabilities;
  /** The program used (the first the server lists) and its first installed model. */
  readonly program: WyomingAsrProgram;
  readonly model: WyomingAsrModel | undefined;
  readonly #address: WyomingAddress;
  readonly #timeoutMs: number;
  readonly #limits?: Partial<FrameLimits>;

  /**
   * Asks the server what it offers (describe → info) and fails with what to fix when it cannot
   * be reached, is not a Wyoming server, or has no speech recognition program.
   */
  static async create(options: WyomingTranscriberOptions): Promise<WyomingTranscriber> {
    const setting = options.uriSetting ?? 'WYOMING_ASR_URI';
    const info = await describeAtStartup(
      { address: options.address, timeoutMs: options.timeoutMs, limits: options.limits },
      { role: ROLE, setting, example: 'wyoming-faster-whisper, port 10300' },
    );
    const program = info.asr.find((candidate) => candidate.models.some((model) => model.installed)) ?? info.asr[0];
    if (!program) {
      const offers = info.tts.length > 0 ? `only speech synthesis (${info.tts.map((tts) => tts.name).join(', ')})` : 'no speech recognition program';
      throw new SpeechbridgeError(
        'engine_unavailable',
        `the Wyoming server at ${options.address.uri} (${setting}) offers ${offers}; point ${setting} at a Wyoming speech-to-text server such as wyoming-faster-whisper (port 10300)`,
      );
    }
    return new WyomingTranscriber(program, options);
  }

  constructor(program: WyomingAsrProgram, options: WyomingTranscriberOptions) {
    this.program = program;
    this.model = program.models.find((model) => model.installed) ?? program.models[0];
    this.#address = options.address;
    this.upstream = options.address.uri;
    this.#timeoutMs = options.timeoutMs;
    this.#limits = options.limits;
    const languages = [
      ...new Set(
        program.models
          .flatMap((model) => model.languages)
          .map(baseLanguage)
          .filter((code): code is string => code !== undefined),
      ),
    ];
    this.capabilities = {
      streaming: true,
      // A model listing several languages (a multilingual whisper) detects the one spoken.
      languageDetection: (this.model?.languages.length ?? 0) > 1,
      segments: false,
      sampleRate: WYOMING_ASR_SAMPLE_RATE,
      languages: languages.length > 0 ? languages : 'any',
    };
  }

  async transcribe(audio: PcmAudio, options: TranscribeOptions = {}): Promise<Transcription> {
    throwIfAborted(options.signal);
    if (audio.samples.length === 0) return { text: '', ...(options.language ? { language: options.language } : {}), durationMs: 0, segments: [] };
    const deadline = startDeadline(this.#timeoutMs, options.signal);
    try {
      for await (const event of this.transcribeStream(wholeTurn(audio), { ...options, signal: deadline.signal })) {
        if (event.type === 'completed') return event.transcription;
      }
      throw new SpeechbridgeError('upstream_bad_response', `the Wyoming ${ROLE} server at ${this.upstream} ended without a transcript`);
    } catch (error) {
      throw deadline.translate(error, `transcription at the Wyoming ${ROLE} server at ${this.upstream}`);
    } finally {
      deadline.dispose();
    }
  }

  async *transcribeStream(audio: AsyncIterable<PcmAudio>, options: TranscribeOptions = {}): AsyncIterable<TranscriptStreamEvent> {
    throwIfAborted(options.signal);
    const connection = await WyomingConnection.open({
      address: this.#address,
      role: ROLE,
      connectTimeoutMs: this.#timeoutMs,
      signal: options.signal,
      limits: this.#limits,
    });
    const state: StreamState = { done: false, samplesSent: 0, sampleRate: WYOMING_ASR_SAMPLE_RATE };
    // The pump runs beside the reader below; its failure ends the connection, which the
    // reader then reports (a deliberate stop of ours is already the connection's state).
    this.#sendAudio(connection, audio, options, state).catch((error: unknown) => {
      connection.fail(error instanceof Error ? error : new Error(String(error)));
    });
    let language: string | undefined;
    const pieces: string[] = [];
    try {
      for (;;) {
        const event = await connection.receive('the transcript');
        if (event === NO_AUDIO) {
          state.done = true;
          yield { type: 'completed', transcription: this.#transcription('', undefined, options, state) };
          return;
        }
        switch (event.type) {
          case 'transcript-start':
            language = parseTranscriptStart(event, connection.server).language ?? language;
            break;
          case 'transcript-chunk': {
            const piece = parseTranscriptChunk(event, connection.server);
            if (piece) {
              pieces.push(piece);
              yield { type: 'delta', text: piece };
            }
            break;
          }
          case 'transcript': {
            const transcript = parseTranscript(event, connection.server);
            state.done = true;
            yield { type: 'completed', transcription: this.#transcription(transcript.text, transcript.language ?? language, options, state) };
            return;
          }
          case 'transcript-stop':
            // The protocol sends `transcript` before this; a server that skips it has said its text in pieces.
            state.done = true;
            yield { type: 'completed', transcription: this.#transcription(pieces.join(''), language, options, state) };
            return;
          case 'error':
            throw errorEventToError(event, connection.server, 'transcription');
          default:
            // Other events (a VAD's voice-started, a newer protocol's additions) are not answers.
            break;
        }
      }
    } finally {
      state.done = true;
      connection.close();
    }
  }

  /**
   * transcribe and audio-start with the first frame, then each frame as an audio-chunk as it
   * comes, then audio-stop; after it the server must answer within REQUEST_TIMEOUT. A turn with
   * no audio at all sends nothing: the reader gets NO_AUDIO instead (faster-whisper fails on a
   * stream without audio).
   */
  async #sendAudio(connection: WyomingConnection, audio: AsyncIterable<PcmAudio>, options: TranscribeOptions, state: StreamState): Promise<void> {
    const send = (event: { type: string; data?: Record<string, unknown>; payload?: Uint8Array }) => connection.send(event, this.#timeoutMs);
    const model = options.model && this.program.models.some((candidate) => candidate.name === options.model) ? options.model : undefined;
    let started = false;
    for await (const frame of audio) {
      if (state.done) return;
      if (frame.samples.length === 0) continue;
      if (!started) {
        state.sampleRate = frame.sampleRate;
        await send({ type: 'transcribe', data: { ...(model ? { name: model } : {}), ...(options.language ? { language: options.language } : {}) } });
        await send({ type: 'audio-start', data: { ...format(frame.sampleRate), timestamp: 0 } });
        started = true;
      } else if (frame.sampleRate !== state.sampleRate) {
        throw new SpeechbridgeError('internal_error', `audio for ${this.upstream} changed rate mid-turn (${state.sampleRate} → ${frame.sampleRate} Hz)`);
      }
      const timestamp = Math.round((state.samplesSent * 1000) / state.sampleRate);
      await send({ type: 'audio-chunk', data: { ...format(state.sampleRate), timestamp }, payload: int16ToBytes(frame.samples) });
      state.samplesSent += frame.samples.length;
    }
    if (state.done) return;
    if (!started) {
      connection.inject(NO_AUDIO);
      return;
    }
    await send({ type: 'audio-stop', data: { timestamp: Math.round((state.samplesSent * 1000) / state.sampleRate) } });
    connection.expectWithin(this.#timeoutMs, 'the transcript');
  }

  #transcription(text: string, reportedLanguage: string | undefined, options: TranscribeOptions, state: StreamState): Transcription {
    const language = (reportedLanguage ? baseLanguage(reportedLanguage) : undefined) ?? options.language;
    return {
      text: text.trim(),
      ...(language ? { language } : {}),
      durationMs: (state.samplesSent * 1000) / state.sampleRate,
      segments: [],
    };
  }
}

function format(sampleRate: number): { rate: number; width: number; channels: number } {
  return { rate: sampleRate, width: 2, channels: 1 };
}

async function* wholeTurn(audio: PcmAudio): AsyncIterable<PcmAudio> {
  const size = Math.max(1, Math.round((audio.sampleRate * WHOLE_TURN_CHUNK_MS) / 1000));
  for (let offset = 0; offset < audio.samples.length; offset += size) {
    yield { samples: audio.samples.subarray(offset, offset + size), sampleRate: audio.sampleRate };
  }
}

/** "en_US", "en-us", "english" → "en"; undefined when not a language. */
function baseLanguage(tag: string): string | undefined {
  return languageCode(tag.trim().split(/[-_]/)[0]);
}
