/**
 * Speech synthesis on a Wyoming server (wyoming-piper and others, WYOMING_TTS_URI, port 10200 by
 * default), one connection per request:
 *
 *   → synthesize {text, voice?}   ← audio-start {rate, width, channels}   ← audio-chunk …   ← audio-stop
 *
 * and, from a server whose `info` announces `supports_synthesize_streaming`, text as the LLM
 * writes it (synthesizeStream): → synthesize-start {voice?}, → synthesize-chunk {text} per piece,
 * and at the end → synthesize {text: all of it} (the protocol asks for it, for older servers) and
 * → synthesize-stop; the server answers each sentence as soon as it ends with its own
 * audio-start / audio-chunk … / audio-stop, and ← synthesize-stopped after the last.
 *
 * Audio arrives in whatever rate, width and channels the server's audio-start and chunks say
 * (piper: 22050 Hz for most voices, 16000 for its "low" ones, 16-bit mono); it is converted to
 * mono PCM16 and resampled once to WYOMING_TTS_SAMPLE_RATE, the rate declared in capabilities.
 *
 * Waits: the connection at most REQUEST_TIMEOUT; once the text is all sent the server must not
 * be silent longer than REQUEST_TIMEOUT (while text is still being written it may wait for a
 * sentence to end); the whole request at most RESPONSE_TIMEOUT. Leaving the stream early
 * (barge-in) closes the connection. A request's `speed`, `instructions` and `model` are not
 * sent: the protocol has no field for them.
 */
import type { PcmAudio } from '../../audio/pcm.ts';
import { createStreamResampler, type StreamResampler } from '../../audio/resample.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { SynthesizeRequest, Synthesizer, SynthesizerCapabilities } from '../contracts.ts';
import { startDeadline, type Deadline } from '../deadline.ts';
import { throwIfAborted } from '../../errors/abort.ts';
import { defaultUpstreamLimits } from '../upstream-limits.ts';
import type { WyomingAddress } from './address.ts';
import { abortError, WyomingConnection } from './connection.ts';
import type { FrameLimits } from './framing.ts';
import { errorEventToError, parseAudioFormat, type WyomingAudioFormat, type WyomingTtsProgram } from './messages.ts';
import { WyomingPcmDecoder } from './pcm-decoder.ts';
import { describeAtStartup } from './startup-failure.ts';
import { WyomingVoices, type WyomingVoiceChoice } from './voices.ts';

/**
 * 22050 Hz: piper's rate for its medium and high voices, what most Wyoming synthesis servers
 * run, so the usual audio passes through unchanged; other rates are resampled to it.
 */
export const WYOMING_TTS_SAMPLE_RATE = 22_050;

const ROLE = 'speech synthesis';

export interface WyomingSynthesizerOptions {
  address: WyomingAddress;
  /** REQUEST_TIMEOUT in ms: connecting, and the server's longest silence once audio is due. */
  timeoutMs: number;
  /** RESPONSE_TIMEOUT in ms: a whole request; default 4 × timeoutMs. */
  responseTimeoutMs?: number;
  /** DEFAULT_TTS_VOICE; default 'alloy' (the server's first installed voice). */
  defaultVoice?: string;
  /** The variable that holds the address, named in start-up failures (WYOMING_TTS_URI). */
  uriSetting?: string;
  limits?: Partial<FrameLimits>;
}

export class WyomingSynthesizer implements Synthesizer {
  readonly name = 'wyoming';
  readonly upstream: string;
  readonly capabilities: SynthesizerCapabilities;
  /** The program used: the first the server lists with voices. */
  readonly program: WyomingTtsProgram;
  readonly #voices: WyomingVoices;
  readonly #address: WyomingAddress;
  readonly #timeoutMs: number;
  readonly #responseTimeoutMs: number;
  readonly #limits?: Partial<FrameLimits>;

  /**
   * Asks the server what it offers (describe → info) and fails with what to fix when it cannot
   * be reached, is not a Wyoming server, has no speech synthesis program, or lacks the default voice.
   */
  static async create(options: WyomingSynthesizerOptions): Promise<WyomingSynthesizer> {
    const setting = options.uriSetting ?? 'WYOMING_TTS_URI';
    const info = await describeAtStartup(
      { address: options.address, timeoutMs: options.timeoutMs, limits: options.limits },
      { role: ROLE, setting, example: 'wyoming-piper, port 10200' },
    );
    const program = info.tts.find((candidate) => candidate.voices.length > 0) ?? info.tts[0];
    if (!program) {
      const offers = info.asr.length > 0 ? `only speech recognition (${info.asr.map((asr) => asr.name).join(', ')})` : 'no speech synthesis program';
      throw new SpeechbridgeError(
        'engine_unavailable',
        `the Wyoming server at ${options.address.uri} (${setting}) offers ${offers}; point ${setting} at a Wyoming text-to-speech server such as wyoming-piper (port 10200)`,
      );
    }
    const synthesizer = new WyomingSynthesizer(program, options);
    try {
      synthesizer.resolveVoice(synthesizer.capabilities.defaultVoice);
    } catch (error) {
      throw new SpeechbridgeError('invalid_config', `DEFAULT_TTS_VOICE: ${(error as Error).message}`, { cause: error });
    }
    return synthesizer;
  }

  constructor(program: WyomingTtsProgram, options: WyomingSynthesizerOptions) {
    this.program = program;
    this.#address = options.address;
    this.upstream = options.address.uri;
    this.#timeoutMs = options.timeoutMs;
    this.#responseTimeoutMs = options.responseTimeoutMs ?? defaultUpstreamLimits(options.timeoutMs).responseTimeoutMs;
    this.#limits = options.limits;
    this.#voices = new WyomingVoices(program, `the Wyoming ${ROLE} server at ${options.address.uri}`);
    this.capabilities = {
      streaming: true,
      textStreaming: program.supportsSynthesizeStreaming,
      sampleRate: WYOMING_TTS_SAMPLE_RATE,
      voices: this.#voices.names,
      defaultVoice: options.defaultVoice ?? 'alloy',
    };
  }

  /** The server voice a name resolves to (undefined: the server's own default); throws unknown_voice. */
  resolveVoice(voice: string): WyomingVoiceChoice | undefined {
    return this.#voices.resolve(voice);
  }

  async *synthesize(request: SynthesizeRequest): AsyncIterable<PcmAudio> {
    throwIfAborted(request.signal);
    const voice = this.resolveVoice(request.voice ?? this.capabilities.defaultVoice);
    // Pieces with no letter or digit ("...", "—") have nothing to say.
    if (!/[\p{L}\p{N}]/u.test(request.text)) return;
    const deadline = this.#startTotal(request.signal);
    let connection: WyomingConnection | undefined;
    try {
      connection = await this.#open(deadline);
      await connection.send({ type: 'synthesize', data: { text: request.text, ...(voice ? { voice } : {}) } }, this.#timeoutMs);
      connection.expectWithin(this.#timeoutMs, 'audio');
      yield* this.#audio(connection, 'audio-stop', deadline);
    } catch (error) {
      throw deadline.translate(error, `speech synthesis at the Wyoming ${ROLE} server at ${this.upstream}`);
    } finally {
      connection?.close();
      deadline.dispose();
    }
  }

  async *synthesizeStream(text: AsyncIterable<string>, request: Omit<SynthesizeRequest, 'text'>): AsyncIterable<PcmAudio> {
    throwIfAborted(request.signal);
    const voice = this.resolveVoice(request.voice ?? this.capabilities.defaultVoice);
    if (!this.capabilities.textStreaming) {
      // A server without text streaming gets the whole text at once (callers that check
      // capabilities.textStreaming cut sentences themselves instead).
      let whole = '';
      for await (const piece of text) whole = joinPiece(whole, piece).text;
      yield* this.synthesize({ ...request, text: whole });
      return;
    }
    // No connection until there is something to say.
    const pieces = text[Symbol.asyncIterator]();
    let first: string | undefined;
    while (first === undefined) {
      const next = await pieces.next();
      if (next.done) return;
      if (next.value.trim()) first = next.value;
    }
    throwIfAborted(request.signal);
    const deadline = this.#startTotal(request.signal);
    let connection: WyomingConnection | undefined;
    try {
      connection = await this.#open(deadline);
      const open = connection;
      this.#sendText(open, first, pieces, voice).catch((error: unknown) => open.fail(error instanceof Error ? error : new Error(String(error))));
      yield* this.#audio(open, 'synthesize-stopped', deadline);
    } catch (error) {
      throw deadline.translate(error, `speech synthesis at the Wyoming ${ROLE} server at ${this.upstream}`);
    } finally {
      connection?.close();
      deadline.dispose();
      // Stops the caller's text source when the stream ends early (barge-in); no-op once it ended.
      void pieces.return?.().catch(() => undefined);
    }
  }

  /** synthesize-start, a synthesize-chunk per piece, then synthesize (all the text) and synthesize-stop. */
  async #sendText(connection: WyomingConnection, first: string, rest: AsyncIterator<string>, voice: WyomingVoiceChoice | undefined): Promise<void> {
    const send = (type: string, data: Record<string, unknown>) => connection.send({ type, data }, this.#timeoutMs);
    await send('synthesize-start', voice ? { voice } : {});
    let written = joinPiece('', first);
    await send('synthesize-chunk', { text: written.piece });
    for (;;) {
      const next = await rest.next();
      if (next.done) break;
      if (!next.value) continue;
      written = joinPiece(written.text, next.value);
      await send('synthesize-chunk', { text: written.piece });
    }
    await send('synthesize', { text: written.text, ...(voice ? { voice } : {}) });
    await send('synthesize-stop', {});
    connection.expectWithin(this.#timeoutMs, 'the last audio');
  }

  /**
   * The server's audio, as mono PCM16 at WYOMING_TTS_SAMPLE_RATE, until `end` (audio-stop for a
   * single request, synthesize-stopped for a text stream, where each sentence has its own
   * audio-start … audio-stop). An answer without any audio is a failure, not silence.
   */
  async *#audio(connection: WyomingConnection, end: 'audio-stop' | 'synthesize-stopped', deadline: Deadline): AsyncIterable<PcmAudio> {
    let segment: AudioSegment | null = null;
    let samples = 0;
    try {
      for (;;) {
        const event = await connection.receive(samples === 0 ? 'audio' : 'the rest of the audio');
        if (deadline.signal.aborted) throw abortError();
        if (event.type === 'error') throw errorEventToError(event, connection.server, 'speech synthesis');
        if (event.type === 'audio-start' || (event.type === 'audio-chunk' && !segment?.accepts(parseAudioFormat(event, connection.server)))) {
          // A new stretch of audio, or chunks in another format than announced: the old one ends.
          const tail = segment?.finish();
          segment = null;
          if (tail && tail.length > 0) {
            samples += tail.length;
            yield { samples: tail, sampleRate: WYOMING_TTS_SAMPLE_RATE };
          }
          segment = await AudioSegment.start(parseAudioFormat(event, connection.server));
        }
        if (event.type === 'audio-chunk' && event.payload && segment) {
          const out = segment.push(event.payload);
          if (out.length > 0) {
            samples += out.length;
            yield { samples: out, sampleRate: WYOMING_TTS_SAMPLE_RATE };
          }
        }
        const ends = event.type === end || (event.type === 'audio-stop' && end === 'synthesize-stopped');
        if (ends) {
          const tail = segment?.finish();
          segment = null;
          if (tail && tail.length > 0) {
            samples += tail.length;
            yield { samples: tail, sampleRate: WYOMING_TTS_SAMPLE_RATE };
          }
          if (event.type === end) return this.#requireAudio(samples, connection);
        }
        // Anything else (a newer protocol's events) is not audio and is passed over.
      }
    } finally {
      segment?.close();
    }
  }

  #requireAudio(samples: number, connection: WyomingConnection): void {
    if (samples === 0) throw new SpeechbridgeError('upstream_bad_response', `${connection.server} ended its answer without any audio`);
  }

  #startTotal(signal: AbortSignal | undefined): Deadline {
    return startDeadline(this.#responseTimeoutMs, signal, 'RESPONSE_TIMEOUT, the limit for a whole answer');
  }

  #open(deadline: Deadline): Promise<WyomingConnection> {
    return WyomingConnection.open({ address: this.#address, role: ROLE, connectTimeoutMs: this.#timeoutMs, signal: deadline.signal, limits: this.#limits });
  }
}

/** One stretch of audio in one format (audio-start to audio-stop): decoded, then resampled once. */
class AudioSegment {
  readonly #decoder: WyomingPcmDecoder;
  readonly #resampler: StreamResampler;

  static async start(format: WyomingAudioFormat): Promise<AudioSegment> {
    return new AudioSegment(new WyomingPcmDecoder(format), await createStreamResampler(format.rate, WYOMING_TTS_SAMPLE_RATE));
  }

  private constructor(decoder: WyomingPcmDecoder, resampler: StreamResampler) {
    this.#decoder = decoder;
    this.#resampler = resampler;
  }

  accepts(format: WyomingAudioFormat): boolean {
    const own = this.#decoder.format;
    return own.rate === format.rate && own.width === format.width && own.channels === format.channels;
  }

  push(payload: Uint8Array): Int16Array {
    return this.#resampler.push(this.#decoder.push(payload));
  }

  /** The samples still in the resampler's filter; the segment is closed afterwards. */
  finish(): Int16Array {
    const tail = this.#resampler.flush();
    this.close();
    return tail;
  }

  close(): void {
    this.#resampler.close();
  }
}

/**
 * Appends a piece of streamed text: pieces are whole words (the contract), so one space goes
 * between two that do not already have whitespace at the seam. Returns the text so far and the
 * piece as sent (with its leading space).
 */
function joinPiece(text: string, piece: string): { text: string; piece: string } {
  const needsSpace = text.length > 0 && !/\s$/.test(text) && !/^\s/.test(piece);
  const sent = needsSpace ? ` ${piece}` : piece;
  return { text: text + sent, piece: sent };
}
