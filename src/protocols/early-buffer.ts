/**
 * What arrives while a session's engine starts: client messages (the client need not wait for
 * `ready` / `session.created` to send) and the engine's own first events, both held until the
 * session opens and then replayed in order. Both are bounded:
 *
 * - client messages: at most MAX_EARLY_MESSAGES, and at most twice REALTIME_MAX_MESSAGE_MB of
 *   bytes together (a message over the limit is kept as its first EARLY_HEAD_BYTES only, to
 *   be refused in its turn). A client past either bound is flooding: the session says so and
 *   closes (1008 early_overflow).
 * - engine events: at most MAX_EARLY_EVENTS; an engine never emits that many before its first
 *   input, so reaching it is a fault of the gateway's own and ends the session.
 */

/** 256 messages: 5 s of 20 ms audio frames, far more than any engine start takes. */
export const MAX_EARLY_MESSAGES = 256;
export const MAX_EARLY_EVENTS = 100;
/** What is kept of an oversize message: enough for a client's event_id. */
export const EARLY_HEAD_BYTES = 512;

export interface EarlyMessage {
  /** The message, or its head when it is over the size limit. */
  data: Buffer;
  isBinary: boolean;
  /** The message's full size. */
  bytes: number;
}

export class EarlyBuffer<Event> {
  readonly messages: EarlyMessage[] = [];
  readonly events: Event[] = [];
  #bytes = 0;

  constructor(
    private readonly maxMessageBytes: number,
    private readonly maxBytes: number,
  ) {}

  /** False when the message would pass a bound (it is not kept). */
  addMessage(data: Buffer, isBinary: boolean): boolean {
    // A copy of the head, so the oversize message itself is not held.
    const kept = data.byteLength > this.maxMessageBytes ? Buffer.from(data.subarray(0, EARLY_HEAD_BYTES)) : data;
    if (this.messages.length >= MAX_EARLY_MESSAGES || this.#bytes + kept.byteLength > this.maxBytes) return false;
    this.#bytes += kept.byteLength;
    this.messages.push({ data: kept, isBinary, bytes: data.byteLength });
    return true;
  }

  /** False when the event would pass MAX_EARLY_EVENTS (it is not kept). */
  addEvent(event: Event): boolean {
    if (this.events.length >= MAX_EARLY_EVENTS) return false;
    this.events.push(event);
    return true;
  }
}
