/**
 * Client of `/v1/realtime` (OpenAI Realtime GA events). Audio goes up as base64 PCM16 at
 * 24 kHz in `input_audio_buffer.append`; the server's VAD cuts turns. `--mode transcribe`
 * opens a transcription session (`?intent=transcription`); the other modes open a
 * conversation with speechbridge's `mode` extension (reply, translate, rewrite).
 *
 * finish(): trailing silence ends a turn the way a speaker pausing does; a `session.update`
 * that changes nothing is then a barrier (the engine handles inputs in order, so its
 * `session.updated` comes after every event the audio caused); a turn still open after it is
 * committed; then the client waits until every committed turn has its transcript and every
 * response is done.
 */
import { z } from 'zod';
import { SpeechbridgeError } from '../../errors/registry.ts';
import { ClientSocket, parseServerJson } from './client-socket.ts';
import { defer, raceAbort, silence, type Deferred } from './client-timing.ts';
import { ECHO_INSTRUCTIONS } from './echo-instructions.ts';
import type { ClientEvent, ClientOptions, SpeechClient } from './speech-client.ts';

const SAMPLE_RATE = 24_000;
/** 1 s of silence: twice the server's default end-of-turn silence (450 ms), so a VAD turn ends on its own. */
const TRAILING_SILENCE_MS = 1000;
/** 100 ms appends: 6.4 KB of base64 each, well under the server's per-message limit. */
const APPEND_MS = 100;
/**
 * A committed turn whose transcript was empty gets no response, and nothing says so; after
 * 1.5 s without any event and no response running, the turn counts as answered.
 */
const QUIET_MS = 1500;

const serverEvent = z.looseObject({ type: z.string() });
const itemEvent = z.looseObject({ item_id: z.string() });
const transcriptDelta = z.looseObject({ item_id: z.string(), delta: z.string() });
const transcriptPartial = z.looseObject({ item_id: z.string(), transcript: z.string() });
const transcriptCompleted = z.looseObject({ item_id: z.string(), transcript: z.string() });
const transcriptFailed = z.looseObject({ item_id: z.string(), error: z.looseObject({ message: z.string().optional() }).optional() });
const responseEvent = z.looseObject({
  response: z.looseObject({
    id: z.string(),
    status: z.string().optional(),
    status_details: z.looseObject({ error: z.looseObject({ message: z.string().optional() }).nullish() }).nullish(),
  }),
});
const audioDelta = z.looseObject({ delta: z.string() });
const textDone = z.looseObject({ text: z.string().optional(), transcript: z.string().optional() });
const errorEvent = z.looseObject({ error: z.looseObject({ message: z.string().optional(), code: z.string().nullable().optional() }) });

type Phase = { phase: 'idle' } | { phase: 'connecting'; created: Deferred<void> } | { phase: 'open' } | { phase: 'closed' };

export class RealtimeClient implements SpeechClient {
  readonly protocol = 'realtime';
  readonly inputSampleRate = SAMPLE_RATE;
  private socket: ClientSocket | undefined;
  private state: Phase = { phase: 'idle' };
  private barrier: Deferred<void> | undefined;
  private openTurn: string | undefined;
  private readonly partials = new Map<string, string>();
  private readonly awaitingTranscript = new Set<string>();
  private readonly activeResponses = new Set<string>();
  private committedTurns = 0;
  private responsesCreated = 0;
  private lastEventAt = Date.now();
  private finishing = false;
  private settledCheck: (() => void) | undefined;
  private sessionId = 'unknown';

  constructor(private readonly options: ClientOptions) {}

  async connect(signal: AbortSignal): Promise<void> {
    const created = defer<void>();
    this.state = { phase: 'connecting', created };
    const url = new URL(this.options.url);
    if (this.options.mode === 'transcribe') url.searchParams.set('intent', 'transcription');
    this.socket = await ClientSocket.open(
      url.toString(),
      this.options.token,
      {
        onText: (text) => this.onText(text),
        onBinary: () => this.emit({ type: 'error', message: 'the server sent a binary message, which the realtime protocol does not use' }),
        onClose: (code, reason) => this.onClose(code, reason),
      },
      signal,
    );
    await raceAbort(created.promise, signal);
    this.barrier = defer<void>();
    this.socket.sendJson({ type: 'session.update', session: this.sessionConfig() });
    await raceAbort(this.barrier.promise, signal);
    this.state = { phase: 'open' };
    this.emit({ type: 'ready', session: this.sessionId });
  }

  sendAudio(samples: Int16Array): void {
    this.socket?.sendJson({ type: 'input_audio_buffer.append', audio: Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength).toString('base64') });
  }

  async drain(signal: AbortSignal): Promise<void> {
    await this.socket?.drain(signal);
  }

  async finish(signal: AbortSignal): Promise<void> {
    this.finishing = true;
    const hop = (SAMPLE_RATE * APPEND_MS) / 1000;
    for (let sent = 0; sent < (SAMPLE_RATE * TRAILING_SILENCE_MS) / 1000; sent += hop) this.sendAudio(silence(hop));
    this.barrier = defer<void>();
    // Changes nothing: a GA session.update needs only the session's type.
    this.socket?.sendJson({ type: 'session.update', session: { type: this.options.mode === 'transcribe' ? 'transcription' : 'realtime' } });
    await raceAbort(this.barrier.promise, signal);
    if (this.openTurn !== undefined) this.socket?.sendJson({ type: 'input_audio_buffer.commit' });
    await raceAbort(this.settled(signal), signal);
  }

  async close(): Promise<void> {
    await this.socket?.close();
  }

  private sessionConfig(): Record<string, unknown> {
    const { mode, language, targetLanguage, voice } = this.options;
    const input = {
      format: { type: 'audio/pcm', rate: SAMPLE_RATE },
      transcription: language ? { language } : {},
    };
    // Partial text of each turn while it is spoken (speechbridge's interim transcripts).
    if (mode === 'transcribe') return { type: 'transcription', audio: { input }, speechbridge: { interim_transcripts: true } };
    const responderMode = mode === 'assistant' ? 'reply' : mode === 'translate' ? 'translate' : 'rewrite';
    return {
      type: 'realtime',
      output_modalities: ['audio'],
      ...(mode === 'echo' && { instructions: ECHO_INSTRUCTIONS }),
      audio: { input, output: { format: { type: 'audio/pcm', rate: SAMPLE_RATE }, ...(voice && { voice }) } },
      speechbridge: { mode: responderMode, interim_transcripts: true, ...(targetLanguage && { target_language: targetLanguage }) },
    };
  }

  /** Resolves when no turn is open, every committed turn has its transcript, and (conversation) its response has ended. */
  private settled(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const check = () => {
        const quiet = Date.now() - this.lastEventAt >= QUIET_MS;
        const answered = this.options.mode === 'transcribe' || this.responsesCreated >= this.committedTurns || quiet;
        const done = this.openTurn === undefined && this.awaitingTranscript.size === 0 && this.activeResponses.size === 0 && answered;
        if (done || this.state.phase === 'closed' || signal.aborted) {
          clearInterval(timer);
          this.settledCheck = undefined;
          resolve();
        }
      };
      const timer = setInterval(check, 100);
      this.settledCheck = check;
      check();
    });
  }

  private onText(text: string): void {
    this.lastEventAt = Date.now();
    const json = parseServerJson(text);
    if (json === undefined) {
      this.emit({ type: 'error', message: 'the server sent a message that is not JSON' });
      return;
    }
    const parsed = serverEvent.safeParse(json);
    if (!parsed.success) {
      this.emit({ type: 'error', message: 'the server sent a message without a type' });
      return;
    }
    this.onEvent(parsed.data.type, parsed.data);
    this.settledCheck?.();
  }

  private onEvent(type: string, event: Record<string, unknown>): void {
    switch (type) {
      case 'session.created':
      case 'transcription_session.created':
        if (this.state.phase === 'connecting') {
          const session = z.looseObject({ session: z.looseObject({ id: z.string() }) }).safeParse(event);
          this.sessionId = session.success ? session.data.session.id : 'unknown';
          this.state.created.resolve();
        }
        return;
      case 'session.updated':
      case 'transcription_session.updated':
        this.barrier?.resolve();
        return;
      case 'input_audio_buffer.speech_started': {
        const parsed = itemEvent.safeParse(event);
        this.openTurn = parsed.success ? parsed.data.item_id : 'turn';
        return;
      }
      case 'input_audio_buffer.committed': {
        const parsed = itemEvent.safeParse(event);
        this.openTurn = undefined;
        this.committedTurns++;
        if (parsed.success) this.awaitingTranscript.add(parsed.data.item_id);
        return;
      }
      case 'input_audio_buffer.cleared':
        this.openTurn = undefined;
        return;
      case 'conversation.item.input_audio_transcription.delta': {
        const parsed = transcriptDelta.safeParse(event);
        if (!parsed.success) return;
        const text = (this.partials.get(parsed.data.item_id) ?? '') + parsed.data.delta;
        this.partials.set(parsed.data.item_id, text);
        this.emit({ type: 'transcript.partial', turn: parsed.data.item_id, text });
        return;
      }
      case 'conversation.item.input_audio_transcription.partial': {
        const parsed = transcriptPartial.safeParse(event);
        if (!parsed.success) return;
        this.partials.set(parsed.data.item_id, parsed.data.transcript);
        this.emit({ type: 'transcript.partial', turn: parsed.data.item_id, text: parsed.data.transcript });
        return;
      }
      case 'conversation.item.input_audio_transcription.completed': {
        const parsed = transcriptCompleted.safeParse(event);
        if (!parsed.success) return;
        this.partials.delete(parsed.data.item_id);
        this.awaitingTranscript.delete(parsed.data.item_id);
        this.emit({ type: 'transcript.final', turn: parsed.data.item_id, text: parsed.data.transcript.trim() });
        return;
      }
      case 'conversation.item.input_audio_transcription.failed': {
        const parsed = transcriptFailed.safeParse(event);
        if (!parsed.success) return;
        this.partials.delete(parsed.data.item_id);
        this.awaitingTranscript.delete(parsed.data.item_id);
        this.emit({ type: 'error', message: `transcription failed: ${parsed.data.error?.message ?? 'no reason given'}` });
        return;
      }
      case 'response.created': {
        const parsed = responseEvent.safeParse(event);
        if (!parsed.success) return;
        this.responsesCreated++;
        this.activeResponses.add(parsed.data.response.id);
        return;
      }
      case 'response.output_audio.delta': {
        const parsed = audioDelta.safeParse(event);
        if (!parsed.success) return;
        const bytes = Buffer.from(parsed.data.delta, 'base64');
        const samples = new Int16Array(bytes.byteLength >> 1);
        new Uint8Array(samples.buffer).set(bytes.subarray(0, samples.byteLength));
        this.emit({ type: 'reply.audio', samples, sampleRate: SAMPLE_RATE });
        return;
      }
      case 'response.output_audio_transcript.done':
      case 'response.output_text.done': {
        const parsed = textDone.safeParse(event);
        const text = parsed.success ? (parsed.data.transcript ?? parsed.data.text) : undefined;
        if (text) this.emit({ type: 'reply.text', text });
        return;
      }
      case 'response.done': {
        const parsed = responseEvent.safeParse(event);
        if (!parsed.success) return;
        this.activeResponses.delete(parsed.data.response.id);
        // A failed response is an error, not a reply.
        if (parsed.data.response.status === 'failed') {
          this.emit({ type: 'error', message: `the reply failed: ${parsed.data.response.status_details?.error?.message ?? 'no reason given'}` });
          return;
        }
        this.emit({ type: 'reply.done' });
        return;
      }
      case 'error': {
        const parsed = errorEvent.safeParse(event);
        const code = parsed.success ? (parsed.data.error.code ?? undefined) : undefined;
        // The closing commit races the server's own end of turn, or finds under 100 ms of speech:
        // either way no turn is left open and nothing more will come for it.
        if (this.finishing && code === 'input_audio_buffer_commit_empty') {
          this.openTurn = undefined;
          return;
        }
        const message = parsed.success ? (parsed.data.error.message ?? 'unknown error') : 'unknown error';
        // While connecting, the only request in flight is the session set-up: the server refused it.
        if (this.state.phase === 'connecting') {
          this.barrier?.reject(new SpeechbridgeError('invalid_value', `the server refused the session settings: ${message}`));
          return;
        }
        this.emit({ type: 'error', message, ...(code && { code }) });
        return;
      }
      default:
        return;
    }
  }

  private onClose(code: number, reason: string): void {
    const previous = this.state;
    this.state = { phase: 'closed' };
    if (previous.phase === 'connecting')
      previous.created.reject(
        new SpeechbridgeError('upstream_error', `the server closed the session before it started (${code}${reason ? ` ${reason}` : ''})`),
      );
    this.barrier?.reject(new SpeechbridgeError('upstream_error', `the server closed the connection (${code}${reason ? ` ${reason}` : ''})`));
    this.settledCheck?.();
    this.emit({ type: 'closed', code, reason });
  }

  private emit(event: ClientEvent): void {
    this.options.onEvent(event);
  }
}
