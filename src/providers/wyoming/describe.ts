/**
 * `describe` → `info`: what a Wyoming server offers (its speech recognition programs and models,
 * its synthesis programs and voices, and whether each streams). Asked once at start-up, on a
 * connection of its own, so a wrong address, a server that is not Wyoming or one without the
 * program needed stops start-up with a message saying what to fix, not the first user turn.
 */
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { WyomingAddress } from './address.ts';
import { WyomingConnection } from './connection.ts';
import type { FrameLimits } from './framing.ts';
import { errorEventToError, parseInfo, type WyomingInfo } from './messages.ts';

/**
 * Events skipped while waiting for `info`: a server may send others first (a satellite's
 * `run-satellite`), but one that sends many is not answering the question.
 */
const MAX_EVENTS_BEFORE_INFO = 16;

export interface DescribeOptions {
  address: WyomingAddress;
  /** "speech recognition" or "speech synthesis", for messages. */
  role: string;
  /** REQUEST_TIMEOUT: the longest wait for the connection, and for each event after it. */
  timeoutMs: number;
  signal?: AbortSignal;
  limits?: Partial<FrameLimits>;
}

export async function describeWyomingServer(options: DescribeOptions): Promise<WyomingInfo> {
  const connection = await WyomingConnection.open({ ...options, connectTimeoutMs: options.timeoutMs });
  try {
    await connection.send({ type: 'describe' }, options.timeoutMs);
    connection.expectWithin(options.timeoutMs, 'its answer to "describe" (an "info" event)');
    for (let skipped = 0; skipped <= MAX_EVENTS_BEFORE_INFO; skipped++) {
      const event = await connection.receive('its answer to "describe" (an "info" event)');
      if (event.type === 'info') return parseInfo(event, connection.server);
      if (event.type === 'error') throw errorEventToError(event, connection.server, '"describe"');
    }
    throw new SpeechbridgeError(
      'upstream_bad_response',
      `${connection.server} sent ${MAX_EVENTS_BEFORE_INFO + 1} events but no "info" in answer to "describe"`,
    );
  } finally {
    connection.close();
  }
}
