/**
 * One client session from start to summary, shared by `stream` and `listen`: connect, send
 * the audio source (paced to real time or as it comes), finish the last turn with a bounded
 * wait, close, and report. Reply audio goes to the WAV file and the player as it arrives.
 */
import { SpeechbridgeError } from '../../errors/registry.ts';
import { sleep, withDeadline } from './client-timing.ts';
import type { SessionReport } from './session-report.ts';
import type { ClientEvent, SpeechClient } from './speech-client.ts';
import type { WavFileWriter } from './wav-file-writer.ts';

/** Hop sent per message: 20 ms when paced (a microphone's rhythm), 100 ms otherwise (fewer messages). */
const PACED_HOP_MS = 20;
const FAST_HOP_MS = 100;

export interface ReplySink {
  write(samples: Int16Array, sampleRate: number): void;
}

export interface ClientSessionOptions {
  /** Builds the client around the event handler this session gives it. */
  createClient(onEvent: (event: ClientEvent) => void): SpeechClient;
  /** The audio to send, at the client's input rate. */
  source(sampleRate: number, signal: AbortSignal): AsyncIterable<Int16Array>;
  /** Send at real-time speed (a file) rather than as fast as the source gives it. */
  paced: boolean;
  /**
   * Wait for the source's first audio before connecting (a microphone: a recorder that cannot
   * open its device then fails before any connection is made).
   */
  primeSource?: boolean;
  /** Longest wait for the session to start, and for the last results once the audio has ended. */
  timeoutMs: number;
  report: SessionReport;
  replyFile?: WavFileWriter;
  player?: ReplySink;
  /** Ends the audio early (Ctrl+C); the session still finishes and reports. */
  stopInput: AbortSignal;
  /** Abandons everything at once (a second Ctrl+C). */
  signal: AbortSignal;
}

export type SessionEnd =
  | { type: 'finished' }
  | { type: 'stopped' }
  | { type: 'timed_out'; seconds: number }
  /** `finishing`: the audio was all sent, and the socket closed while its last results were awaited. */
  | { type: 'server_closed'; code: number; reason: string; finishing: boolean };

export async function runClientSession(options: ClientSessionOptions): Promise<SessionEnd> {
  const { report, replyFile, player, signal } = options;
  let serverClosed: { code: number; reason: string } | undefined;
  let finishing = false;
  let closing = false;
  // The gateway and transcriptions servers close with 1000 once the last results are sent; another code is a failure.
  let closedWhileFinishing: { code: number; reason: string } | undefined;
  const closedEarly = new AbortController();
  const client = options.createClient((event) => {
    report.record(event);
    if (event.type === 'reply.audio') {
      replyFile?.write(event.samples, event.sampleRate);
      player?.write(event.samples, event.sampleRate);
    }
    if (event.type === 'closed' && !finishing) {
      serverClosed = { code: event.code, reason: event.reason };
      closedEarly.abort(new SpeechbridgeError('upstream_error', `the server closed the connection (${event.code}${event.reason ? `: ${event.reason}` : ''})`));
    } else if (event.type === 'closed' && !closing && event.code !== 1000) closedWhileFinishing = { code: event.code, reason: event.reason };
  });
  // Aborted when the session ends however it ends, so a recorder started early never outlives it.
  const ended = new AbortController();
  const sending = AbortSignal.any([signal, options.stopInput, closedEarly.signal, ended.signal]);
  try {
    let source = options.source(client.inputSampleRate, sending);
    if (options.primeSource) source = await primed(source);
    // Stopped (Ctrl+C) before the first audio: there is nothing to send, so no connection is made.
    if (options.stopInput.aborted || signal.aborted) return { type: 'stopped' };
    await connect(client, options.timeoutMs, signal);
    await sendSource(client, source, options.paced, sending);
    signal.throwIfAborted();
    if (serverClosed) return { type: 'server_closed', ...serverClosed, finishing: false };
    finishing = true;
    const seconds = options.timeoutMs / 1000;
    const deadline = withDeadline(signal, options.timeoutMs);
    try {
      await client.finish(deadline.signal);
    } catch (error) {
      if (signal.aborted) throw error;
      if (closedWhileFinishing) return { type: 'server_closed', ...closedWhileFinishing, finishing: true };
      if ((error as Error).name === 'TimeoutError') {
        report.notice(`gave up waiting for the last results after ${seconds} s (--timeout)`);
        return { type: 'timed_out', seconds };
      }
      throw error;
    } finally {
      deadline.clear();
    }
    if (closedWhileFinishing) return { type: 'server_closed', ...closedWhileFinishing, finishing: true };
    return options.stopInput.aborted ? { type: 'stopped' } : { type: 'finished' };
  } finally {
    closing = true;
    ended.abort();
    await client.close();
    await replyFile?.close();
  }
}

/**
 * Opens the session; a server that takes the socket but never starts a session (a proxy in
 * front of nothing, another service on that path) is given up on after `timeoutMs`.
 */
async function connect(client: SpeechClient, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const deadline = withDeadline(signal, timeoutMs);
  try {
    await client.connect(deadline.signal);
  } catch (error) {
    if (!signal.aborted && (error as Error).name === 'TimeoutError') {
      throw new SpeechbridgeError(
        'upstream_timeout',
        `the server took the connection but did not start a session within ${timeoutMs / 1000} s (--timeout): check --url and --protocol`,
      );
    }
    throw error;
  } finally {
    deadline.clear();
  }
}

/** Reads the first chunk now (its failure is thrown here) and gives it back ahead of the rest. */
async function primed(source: AsyncIterable<Int16Array>): Promise<AsyncIterable<Int16Array>> {
  const iterator = source[Symbol.asyncIterator]();
  const first = await iterator.next();
  return {
    async *[Symbol.asyncIterator]() {
      if (first.done) return;
      yield first.value;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    },
  };
}

/** Sends the source in hops, paced to its own duration when asked; ends quietly when `signal` aborts. */
async function sendSource(client: SpeechClient, source: AsyncIterable<Int16Array>, paced: boolean, signal: AbortSignal): Promise<void> {
  const rate = client.inputSampleRate;
  const hop = Math.round((rate * (paced ? PACED_HOP_MS : FAST_HOP_MS)) / 1000);
  const started = performance.now();
  let sentSamples = 0;
  let pending = new Int16Array(0);
  const send = async (samples: Int16Array) => {
    if (paced) {
      const due = started + (sentSamples / rate) * 1000;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait, signal);
    }
    client.sendAudio(samples);
    sentSamples += samples.length;
    await client.drain(signal);
  };
  try {
    for await (const chunk of source) {
      signal.throwIfAborted();
      let joined: Int16Array = chunk;
      if (pending.length > 0) {
        joined = new Int16Array(pending.length + chunk.length);
        joined.set(pending);
        joined.set(chunk, pending.length);
      }
      let offset = 0;
      // Paced input goes out in whole hops; live input (paced false) is sent as it comes once a hop is there.
      for (; joined.length - offset >= hop; offset += hop) await send(joined.slice(offset, offset + hop));
      pending = joined.slice(offset);
    }
    if (pending.length > 0) await send(pending);
  } catch (error) {
    if (signal.aborted) return;
    throw error;
  }
}
