/**
 * The Wyoming wire format (the protocol of Home Assistant's voice services: wyoming-faster-whisper
 * on port 10300, wyoming-piper on 10200), written here because npm has no Wyoming client: the
 * only implementation its authors maintain is the `wyoming` Python package. The format is
 * small (JSON lines, two byte counts) and worth owning with its bounds.
 *
 * One event is:
 * 1. a JSON object on one line ending in `\n` (UTF-8): `type` (required), `data` (an object,
 *    optional), `data_length` and `payload_length` (byte counts, optional), `version`;
 * 2. `data_length` bytes of UTF-8 JSON, an object merged over the header's `data` (the
 *    reference writer puts all of an event's data here and none in the header line);
 * 3. `payload_length` bytes of binary payload (PCM audio for `audio-chunk`).
 *
 * The parser reads a TCP byte stream as it arrives, cut anywhere, and keeps every buffer bounded:
 * a header line, a data section or a payload past its limit, or bytes that are not the format
 * (not UTF-8, not JSON, no `type`, a negative length), end the connection with a
 * WyomingFramingError saying what arrived, before more than the limit is held.
 */
import { z } from 'zod';

/**
 * The protocol version written in each header: 1.7.0 added the streaming events used here
 * (transcript-start/chunk/stop, synthesize-start/chunk/stop/stopped). Servers do not check it.
 */
export const WYOMING_PROTOCOL_VERSION = '1.7.0';

export interface WyomingEvent {
  type: string;
  /** The header's `data` with the data section merged over it; {} when there is none. */
  data: Record<string, unknown>;
  /** The binary payload, when `payload_length` is above 0. */
  payload?: Buffer;
}

export interface FrameLimits {
  /** Longest header line, newline excluded. */
  maxHeaderBytes: number;
  /** Largest data section (`data_length`). */
  maxDataBytes: number;
  /** Largest payload (`payload_length`). */
  maxPayloadBytes: number;
}

/**
 * - Header line 1 MB: the reference writer's headers are about 100 bytes (type, version and two
 *   lengths), but the format lets a writer put `data` in the header line, and a TTS server's
 *   `info` then carries its whole voice list there (piper's full catalogue of about 150 voices
 *   with languages and speakers is a few hundred KB).
 * - Data section 4 MB: the same `info` four times over, or a transcript of hours of speech.
 * - Payload 8 MB: one `audio-chunk` holding a whole minute of 48 kHz 16-bit stereo (5.8 MB);
 *   real servers send about 2 KB a chunk (piper: 1024 samples).
 */
export const DEFAULT_FRAME_LIMITS: Readonly<FrameLimits> = Object.freeze({
  maxHeaderBytes: 1024 * 1024,
  maxDataBytes: 4 * 1024 * 1024,
  maxPayloadBytes: 8 * 1024 * 1024,
});

/** Bytes that are not a Wyoming event, or one past a limit; the message says what arrived. */
export class WyomingFramingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WyomingFramingError';
  }
}

const NEWLINE = 0x0a;

/** Byte counts: absent, null and 0 all mean "no section", as the reference reader treats them. */
const byteCount = z.number().int().nonnegative().nullish();

const HEADER = z.looseObject({
  type: z.string().min(1),
  data: z.record(z.string(), z.unknown()).nullish(),
  data_length: byteCount,
  payload_length: byteCount,
});

/**
 * One event as bytes, the way the reference writer lays it out: the header line holds type,
 * version and the lengths; non-empty data goes in the data section; a payload follows it.
 */
export function encodeEvent(event: { type: string; data?: Record<string, unknown>; payload?: Uint8Array }): Buffer {
  const header: Record<string, unknown> = { type: event.type, version: WYOMING_PROTOCOL_VERSION };
  const data = event.data && Object.keys(event.data).length > 0 ? Buffer.from(JSON.stringify(event.data), 'utf8') : undefined;
  if (data) header.data_length = data.byteLength;
  if (event.payload && event.payload.byteLength > 0) header.payload_length = event.payload.byteLength;
  const parts: Buffer[] = [Buffer.from(`${JSON.stringify(header)}\n`, 'utf8')];
  if (data) parts.push(data);
  if (event.payload && event.payload.byteLength > 0) parts.push(Buffer.from(event.payload.buffer, event.payload.byteOffset, event.payload.byteLength));
  return Buffer.concat(parts);
}

type ParserState =
  | { kind: 'header' }
  | { kind: 'data'; type: string; data: Record<string, unknown>; dataLength: number; payloadLength: number }
  | { kind: 'payload'; type: string; data: Record<string, unknown>; payload: Buffer; filled: number };

/**
 * Turns a byte stream into events. push() takes each chunk as it arrives and returns the
 * events it completed (zero or more); it throws WyomingFramingError on the first bad byte, and
 * after that the parser is finished: a stream with garbage in it has no trustworthy boundary.
 */
export class WyomingEventParser {
  readonly #limits: FrameLimits;
  readonly #decoder = new TextDecoder('utf-8', { fatal: true });
  #state: ParserState = { kind: 'header' };
  /** Bytes received and not yet consumed (a header line in progress, or a data section). */
  #pending: Buffer = Buffer.alloc(0);
  /** How far #pending was already searched for a newline, so a long line is scanned once. */
  #scanned = 0;
  #failed: WyomingFramingError | null = null;

  constructor(limits: Partial<FrameLimits> = {}) {
    this.#limits = { ...DEFAULT_FRAME_LIMITS, ...limits };
  }

  /** True when the bytes so far end exactly at an event boundary (nothing half-received). */
  get atBoundary(): boolean {
    return this.#state.kind === 'header' && this.#pending.byteLength === 0;
  }

  push(chunk: Uint8Array): WyomingEvent[] {
    if (this.#failed) throw this.#failed;
    try {
      return this.#consume(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    } catch (error) {
      if (error instanceof WyomingFramingError) this.#failed = error;
      throw error;
    }
  }

  #consume(chunk: Buffer): WyomingEvent[] {
    const events: WyomingEvent[] = [];
    let input = chunk;
    while (input.byteLength > 0) {
      const state = this.#state;
      if (state.kind === 'payload') {
        // Copied straight into the preallocated payload: no growing buffer for audio.
        const take = Math.min(input.byteLength, state.payload.byteLength - state.filled);
        input.copy(state.payload, state.filled, 0, take);
        state.filled += take;
        input = input.subarray(take);
        if (state.filled === state.payload.byteLength) {
          events.push({ type: state.type, data: state.data, payload: state.payload });
          this.#state = { kind: 'header' };
        }
        continue;
      }
      this.#pending = this.#pending.byteLength === 0 ? input : Buffer.concat([this.#pending, input]);
      input = Buffer.alloc(0);
      for (;;) {
        const next = this.#step();
        if (next === 'need-more') break;
        if (next !== 'continue') events.push(next);
        if (this.#state.kind === 'payload') {
          // The rest of what arrived belongs to the payload (and what follows it).
          input = this.#pending;
          this.#pending = Buffer.alloc(0);
          this.#scanned = 0;
          break;
        }
        if (this.#pending.byteLength === 0) break;
      }
    }
    return events;
  }

  /** Consumes one header line or data section from #pending, if it is all there. */
  #step(): WyomingEvent | 'continue' | 'need-more' {
    const state = this.#state;
    if (state.kind === 'header') {
      const newline = this.#pending.indexOf(NEWLINE, this.#scanned);
      if (newline < 0) {
        if (this.#pending.byteLength > this.#limits.maxHeaderBytes) {
          throw new WyomingFramingError(`a header line longer than ${this.#limits.maxHeaderBytes} bytes (no newline yet), starting ${quote(this.#pending)}`);
        }
        this.#scanned = this.#pending.byteLength;
        return 'need-more';
      }
      if (newline > this.#limits.maxHeaderBytes) {
        throw new WyomingFramingError(`a header line of ${newline} bytes, longer than the ${this.#limits.maxHeaderBytes}-byte limit`);
      }
      const line = this.#pending.subarray(0, newline);
      this.#pending = this.#pending.subarray(newline + 1);
      this.#scanned = 0;
      return this.#header(line);
    }
    if (state.kind === 'data') {
      if (this.#pending.byteLength < state.dataLength) return 'need-more';
      const section = this.#pending.subarray(0, state.dataLength);
      this.#pending = this.#pending.subarray(state.dataLength);
      const extra = this.#json(section, `the data section of "${state.type}"`);
      if (!isObject(extra)) throw new WyomingFramingError(`the data section of "${state.type}" is ${describeJson(extra)}, not a JSON object`);
      return this.#afterData(state.type, { ...state.data, ...extra }, state.payloadLength);
    }
    return 'need-more';
  }

  #header(line: Buffer): WyomingEvent | 'continue' {
    const parsed = HEADER.safeParse(this.#json(line, 'a header line'));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue.path.length > 0 ? `"${issue.path.join('.')}"` : 'the header';
      throw new WyomingFramingError(`a header line whose ${field} is not valid (${issue.message}): ${quote(line)}`);
    }
    const header = parsed.data;
    const dataLength = header.data_length ?? 0;
    const payloadLength = header.payload_length ?? 0;
    if (dataLength > this.#limits.maxDataBytes) {
      throw new WyomingFramingError(`a "${header.type}" event announcing ${dataLength} bytes of data, more than the ${this.#limits.maxDataBytes}-byte limit`);
    }
    if (payloadLength > this.#limits.maxPayloadBytes) {
      throw new WyomingFramingError(
        `a "${header.type}" event announcing a ${payloadLength}-byte payload, more than the ${this.#limits.maxPayloadBytes}-byte limit`,
      );
    }
    const data = { ...(header.data ?? {}) };
    if (dataLength > 0) {
      this.#state = { kind: 'data', type: header.type, data, dataLength, payloadLength };
      return 'continue';
    }
    return this.#afterData(header.type, data, payloadLength);
  }

  #afterData(type: string, data: Record<string, unknown>, payloadLength: number): WyomingEvent | 'continue' {
    if (payloadLength > 0) {
      this.#state = { kind: 'payload', type, data, payload: Buffer.allocUnsafe(payloadLength), filled: 0 };
      return 'continue';
    }
    this.#state = { kind: 'header' };
    return { type, data };
  }

  #json(bytes: Buffer, what: string): unknown {
    let text: string;
    try {
      text = this.#decoder.decode(bytes);
    } catch {
      throw new WyomingFramingError(`${what} that is not UTF-8 text: ${quote(bytes)}`);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new WyomingFramingError(`${what} that is not JSON: ${quote(bytes)}`);
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** The first 60 bytes, printable, for a message: garbage can be binary or megabytes long. */
function quote(bytes: Buffer): string {
  const head = bytes
    .subarray(0, 60)
    .toString('latin1')
    .replace(/[^\x20-\x7e]/g, '.');
  return `"${head}${bytes.byteLength > 60 ? '…' : ''}"`;
}
