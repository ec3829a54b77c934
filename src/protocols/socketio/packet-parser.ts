/**
 * Socket.IO's packet parser (socket.io-parser, the wire format every socket.io-client speaks)
 * with the JSON bounds of every door (src/protocols/bounded-json.ts) applied where it parses a
 * packet's JSON, before anything is built from it: Socket.IO would otherwise parse the 8
 * million levels a 16 MB message can nest (7 s, 460 MB of heap) before any handler could
 * refuse them.
 *
 * An event whose payload is over the bounds still arrives, with a RefusedPayload in place of
 * its arguments, so the session answers it with an error naming the field and goes on. A
 * packet whose event name cannot be read without parsing it is invalid, as Socket.IO treats
 * any malformed packet: the client is disconnected.
 */
import { Decoder as SocketIoDecoder, Encoder } from 'socket.io-parser';
import type { SpeechbridgeError } from '../../errors/registry.ts';
import { parseBoundedJson } from '../bounded-json.ts';

export { Encoder };

/** What a handler receives instead of a payload that is over the bounds. */
export class RefusedPayload {
  constructor(readonly error: SpeechbridgeError) {}
}

/** Event names longer than this are not looked for in a refused packet. */
const MAX_EVENT_NAME_CHARS = 64;

type JsonParse = (text: string) => unknown;

/**
 * socket.io-parser's Decoder, its JSON step bounded. It parses packet JSON in one method,
 * tryParse (false: not JSON); replacing it per instance keeps everything else the library's.
 */
export class Decoder extends SocketIoDecoder {
  constructor() {
    super();
    const library = this as unknown as { tryParse?: JsonParse };
    if (typeof library.tryParse !== 'function') {
      throw new Error('socket.io-parser has no tryParse step to bound; update src/protocols/socketio/packet-parser.ts for this socket.io-parser version');
    }
    Object.defineProperty(this, 'tryParse', { value: boundedTryParse });
  }
}

function boundedTryParse(text: string): unknown {
  const parsed = parseBoundedJson(text);
  if (parsed.ok) return parsed.value;
  if (parsed.error.code === 'invalid_json') return false;
  const name = leadingEventName(text);
  return name === null ? false : [name, new RefusedPayload(parsed.error)];
}

/** The event name of `["name", …`, read without parsing the rest. */
function leadingEventName(text: string): string | null {
  const match = /^\s*\[\s*"((?:[^"\\]|\\.)*)"/.exec(text.slice(0, 2 * MAX_EVENT_NAME_CHARS + 8));
  if (!match || match[1].length > MAX_EVENT_NAME_CHARS) return null;
  try {
    return JSON.parse(`"${match[1]}"`) as string;
  } catch {
    return null;
  }
}
