/**
 * A local OpenAI Realtime transcription server, written from OpenAI's documented GA protocol,
 * for testing the openai-realtime recognizer over a real socket:
 *
 * - `GET /v1/realtime?intent=transcription` upgraded with `Authorization: Bearer <key>`; a
 *   wrong key is refused with HTTP 401 and OpenAI's JSON error body (or, with
 *   `authFailure: 'event'`, accepted and answered with an `invalid_api_key` error event and
 *   close 1008); `?model=` opens a conversation session, which refuses a transcription
 *   session.update, as OpenAI does.
 * - `session.created` first; `session.update` with `session.type: "transcription"` answered by
 *   `session.updated`, or by an `invalid_model` error and close 4000
 *   "invalid_request_error.invalid_model" for a model it does not offer.
 * - `input_audio_buffer.append` (base64 PCM16 at 24 kHz, or G.711 μ-law / A-law at 8 kHz),
 *   read in the format the session was last told (`audio.input.format`, PCM16 24 kHz until a
 *   session.update says otherwise); each append and each item records that format, so a test
 *   sees which format the audio was read in and whether one item mixed two,
 *   `input_audio_buffer.commit` (under 100 ms: the `input_audio_buffer_commit_empty` error
 *   naming the commit's event_id), `input_audio_buffer.clear` → `cleared`.
 * - Its own server VAD when `turn_detection` is server_vad: an energy detector on 20 ms
 *   frames sends `speech_started` (with the item id to come), and after `silence_duration_ms`
 *   of quiet `speech_stopped` for that item, then commits the buffer by itself.
 * - Each commit: `input_audio_buffer.committed` with `previous_item_id` (the item before it),
 *   `conversation.item.added`, then per the script: `…input_audio_transcription.delta`s and
 *   `.completed` (or `.failed`) for that item after a delay, so completions can come back out
 *   of order. With `include: ["item.input_audio_transcription.logprobs"]` in the session (the
 *   only value OpenAI takes there), each delta and the completion carry `logprobs`: one
 *   `{token, logprob, bytes}` per delta (the delta's text), the completion all of them.
 *
 * Injected faults (one-shot, set on `faults`): close with a code after N appends, a message
 * that is not JSON instead of answering a commit, a slow or missing `session.updated`.
 * Everything received is recorded.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { aLawDecode, muLawDecode } from '../../src/audio/g711.ts';

export const OPENAI_TRANSCRIPTION_MODELS = ['whisper-1', 'gpt-4o-transcribe', 'gpt-4o-mini-transcribe', 'gpt-4o-transcribe-diarize', 'gpt-realtime-whisper'];

export interface ScriptedItem {
  transcript: string;
  /** Sent before the completion, one every deltaIntervalMs; default the transcript's words. */
  deltas?: string[];
  /** Wait after the commit before the first delta (or the completion). */
  delayMs?: number;
  deltaIntervalMs?: number;
  /** Answer with conversation.item.input_audio_transcription.failed instead. */
  fail?: { code: string; message: string };
  /** Never answer for this item. */
  silent?: boolean;
}

export interface CommittedItem {
  /** Counted over the whole server, from 0. */
  index: number;
  itemId: string;
  previousItemId: string | null;
  connection: number;
  by: 'client' | 'server_vad';
  /** The item's audio as it was appended (PCM16 bytes, or G.711 bytes). */
  audio: Buffer;
  audioMs: number;
  /** The input formats its appends were read in (`audio/pcm`, `audio/pcmu`, `audio/pcma`), in order, each once. */
  formats: string[];
}

export interface ReceivedEvent {
  connection: number;
  type: string;
  event_id?: string;
  /** For appends: the decoded byte count. */
  bytes?: number;
  /** For appends: the input format they were read in. */
  format?: string;
  /** session.update's session object. */
  session?: any;
}

export interface UpstreamConnectionRecord {
  index: number;
  url: string;
  authorization: string | undefined;
  /** Every server event sent, in order. */
  sent: Array<Record<string, any>>;
  closed: Promise<{ code: number; reason: string }>;
  /** Who closed: the client or this server. */
  closedBy?: 'client' | 'server';
}

export interface Faults {
  /** After this many appends on a connection, close it with code and reason. One-shot. */
  closeAfterAppends?: { appends: number; code: number; reason: string };
  /** Answer the next commit with a message that is not JSON. One-shot. */
  garbageOnCommit?: boolean;
  /** Wait this long before session.updated (Infinity: never). Applies to every session.update while set. */
  sessionUpdatedDelayMs?: number;
}

export interface RealtimeUpstreamOptions {
  /** The key a client must send; undefined accepts any (or none). */
  apiKey?: string;
  authFailure?: 'upgrade' | 'event';
  models?: string[];
  /** What to answer for each committed item; default its index spelled "item N". */
  script?: (item: CommittedItem) => ScriptedItem;
  /** RMS over which a 20 ms frame is speech (server VAD); default 500. */
  vadThreshold?: number;
}

export interface RealtimeUpstream {
  /** ws://127.0.0.1:port/v1/realtime */
  url: string;
  connections: UpstreamConnectionRecord[];
  received: ReceivedEvent[];
  items: CommittedItem[];
  faults: Faults;
  script: (item: CommittedItem) => ScriptedItem;
  /** Sockets open now. */
  readonly openSockets: number;
  close(): Promise<void>;
}

const LOGPROBS_INCLUDE = 'item.input_audio_transcription.logprobs';

const DEFAULT_TURN_DETECTION = { type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 500 };

export async function startRealtimeUpstream(options: RealtimeUpstreamOptions = {}): Promise<RealtimeUpstream> {
  const models = options.models ?? OPENAI_TRANSCRIPTION_MODELS;
  const connections: UpstreamConnectionRecord[] = [];
  const received: ReceivedEvent[] = [];
  const items: CommittedItem[] = [];
  const sockets = new Set<WebSocket>();
  const timers = new Set<NodeJS.Timeout>();
  const upstream: RealtimeUpstream = {
    url: '',
    connections,
    received,
    items,
    faults: {} as Faults,
    script: options.script ?? ((item: CommittedItem) => ({ transcript: `item ${item.index}` })),
    get openSockets() {
      return sockets.size;
    },
    close: async () => {},
  };
  const later = (ms: number, run: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, ms);
    timers.add(timer);
    return timer;
  };

  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
  const server: Server = createServer((_request, response) => {
    response
      .writeHead(404, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: { message: 'not found', type: 'invalid_request_error', param: null, code: null } }));
  });
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const refuse = (status: number, body: Record<string, unknown>) => {
      const text = JSON.stringify(body);
      socket.end(
        `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 404 ? 'Not Found' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
      );
    };
    if (url.pathname !== '/v1/realtime')
      return refuse(404, { error: { message: `Invalid URL (GET ${url.pathname})`, type: 'invalid_request_error', param: null, code: null } });
    const given = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    const keyOk = options.apiKey === undefined || given === options.apiKey;
    if (!keyOk && (options.authFailure ?? 'upgrade') === 'upgrade') {
      return refuse(401, {
        error: {
          message: `Incorrect API key provided: ${given ?? '(none)'}. You can find your API key at https://platform.openai.com/account/api-keys.`,
          type: 'invalid_request_error',
          param: null,
          code: 'invalid_api_key',
        },
      });
    }
    if (url.searchParams.get('intent') !== 'transcription' && !url.searchParams.has('model')) {
      return refuse(400, { error: { message: 'You must provide a model parameter', type: 'invalid_request_error', param: null, code: 'missing_model' } });
    }
    wss.handleUpgrade(request, socket, head, (ws) => serve(ws, request, url, keyOk));
  });

  function serve(ws: WebSocket, request: IncomingMessage, url: URL, keyOk: boolean): void {
    sockets.add(ws);
    const index = connections.length;
    const record: UpstreamConnectionRecord = {
      index,
      url: request.url ?? '',
      authorization: request.headers.authorization,
      sent: [],
      closed: new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
    };
    connections.push(record);
    const mine = new Set<NodeJS.Timeout>();
    ws.once('close', () => {
      sockets.delete(ws);
      record.closedBy ??= 'client';
      for (const timer of mine) {
        clearTimeout(timer);
        timers.delete(timer);
      }
    });
    const at = (ms: number, run: () => void) => {
      const timer = later(ms, () => {
        mine.delete(timer);
        run();
      });
      mine.add(timer);
    };
    let eventCount = 0;
    const send = (event: Record<string, unknown>) => {
      if (ws.readyState !== ws.OPEN) return;
      const full = { event_id: `event_${index}_${eventCount++}`, ...event };
      record.sent.push(full);
      ws.send(JSON.stringify(full));
    };
    const closeWith = (code: number, reason: string) => {
      record.closedBy = 'server';
      ws.close(code, reason);
    };
    const sessionId = `sess_${randomBytes(8).toString('hex')}`;
    const conversationSession = url.searchParams.has('model');
    let session: any = {
      type: conversationSession ? 'realtime' : 'transcription',
      object: conversationSession ? 'realtime.session' : 'realtime.transcription_session',
      id: sessionId,
      audio: { input: { format: { type: 'audio/pcm', rate: 24000 }, transcription: null, noise_reduction: null, turn_detection: DEFAULT_TURN_DETECTION } },
      include: null,
    };
    let buffer: Buffer[] = [];
    let bufferedFormats: string[] = [];
    // ms of the buffer, each append counted in the format it was read in.
    let bufferedMs = 0;
    let writtenMs = 0;
    let appends = 0;
    let lastItemId: string | null = null;
    // Server VAD state.
    let speechItemId: string | null = null;
    let silentMs = 0;
    let frameCarry = Buffer.alloc(0);

    const error = (code: string, message: string, eventId: string | null, param: string | null = null, type = 'invalid_request_error') =>
      send({ type: 'error', error: { type, code, message, param, event_id: eventId } });

    const bytesPerMs = () => (session.audio.input.format.type === 'audio/pcm' ? 48 : 8);
    const decode = (bytes: Buffer): Int16Array => {
      const kind = session.audio.input.format.type;
      if (kind === 'audio/pcmu') return muLawDecode(bytes);
      if (kind === 'audio/pcma') return aLawDecode(bytes);
      const copy = Buffer.from(bytes);
      return new Int16Array(copy.buffer, copy.byteOffset, copy.byteLength / 2);
    };

    const transcribe = (item: CommittedItem) => {
      const answer = upstream.script(item);
      if (answer.silent) return;
      const deltas = answer.deltas ?? answer.transcript.split(/(?=\s)/).filter(Boolean);
      const interval = answer.deltaIntervalMs ?? 5;
      at(answer.delayMs ?? 0, () => {
        if (answer.fail) {
          send({
            type: 'conversation.item.input_audio_transcription.failed',
            item_id: item.itemId,
            content_index: 0,
            error: { type: 'server_error', code: answer.fail.code, message: answer.fail.message, param: null },
          });
          return;
        }
        // Tokens as OpenAI gives them when asked: the delta's text, its log probability, its UTF-8 bytes.
        const withLogprobs = Array.isArray(session.include) && session.include.includes(LOGPROBS_INCLUDE);
        const tokens = deltas.map((delta, position) => ({ token: delta, logprob: -0.01 * (position + 1), bytes: [...Buffer.from(delta, 'utf8')] }));
        deltas.forEach((delta, position) =>
          at(position * interval, () =>
            send({
              type: 'conversation.item.input_audio_transcription.delta',
              item_id: item.itemId,
              content_index: 0,
              delta,
              ...(withLogprobs && { logprobs: [tokens[position]] }),
            }),
          ),
        );
        at(deltas.length * interval, () =>
          send({
            type: 'conversation.item.input_audio_transcription.completed',
            item_id: item.itemId,
            content_index: 0,
            transcript: answer.transcript,
            ...(withLogprobs && { logprobs: tokens }),
            usage: { type: 'duration', seconds: item.audioMs / 1000 },
          }),
        );
      });
    };

    const commit = (by: CommittedItem['by'], itemId = `item_${randomBytes(8).toString('hex')}`) => {
      const audio = Buffer.concat(buffer);
      const item: CommittedItem = {
        index: items.length,
        itemId,
        previousItemId: lastItemId,
        connection: index,
        by,
        audio,
        audioMs: bufferedMs,
        formats: bufferedFormats,
      };
      buffer = [];
      bufferedMs = 0;
      bufferedFormats = [];
      items.push(item);
      send({ type: 'input_audio_buffer.committed', item_id: itemId, previous_item_id: lastItemId });
      send({
        type: 'conversation.item.added',
        previous_item_id: lastItemId,
        item: { id: itemId, object: 'realtime.item', type: 'message', status: 'completed', role: 'user', content: [{ type: 'input_audio', transcript: null }] },
      });
      lastItemId = itemId;
      transcribe(item);
    };

    /** Server VAD over 20 ms frames of what was just appended. */
    const detect = (bytes: Buffer) => {
      const detection = session.audio.input.turn_detection;
      if (!detection) return;
      const frameBytes = 20 * bytesPerMs();
      let pending = Buffer.concat([frameCarry, bytes]);
      while (pending.length >= frameBytes) {
        const samples = decode(pending.subarray(0, frameBytes));
        pending = pending.subarray(frameBytes);
        writtenMs += 20;
        let energy = 0;
        for (const sample of samples) energy += sample * sample;
        const loud = Math.sqrt(energy / samples.length) > (options.vadThreshold ?? 500);
        if (loud) {
          silentMs = 0;
          if (!speechItemId) {
            speechItemId = `item_${randomBytes(8).toString('hex')}`;
            send({
              type: 'input_audio_buffer.speech_started',
              audio_start_ms: Math.max(0, writtenMs - 20 - (detection.prefix_padding_ms ?? 300)),
              item_id: speechItemId,
            });
          }
        } else if (speechItemId) {
          silentMs += 20;
          if (silentMs >= (detection.silence_duration_ms ?? 500)) {
            const itemId = speechItemId;
            speechItemId = null;
            silentMs = 0;
            send({ type: 'input_audio_buffer.speech_stopped', audio_end_ms: writtenMs, item_id: itemId });
            commit('server_vad', itemId);
          }
        }
      }
      frameCarry = Buffer.from(pending);
    };

    send({ type: 'session.created', session });
    if (!keyOk) {
      error('invalid_api_key', 'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.', null, null);
      closeWith(1008, 'invalid_api_key');
      return;
    }

    ws.on('message', (data) => {
      let event: any;
      try {
        event = JSON.parse(data.toString());
      } catch {
        return error('invalid_json', 'The message is not valid JSON.', null);
      }
      const eventId: string | null = typeof event?.event_id === 'string' ? event.event_id : null;
      const entry: ReceivedEvent = { connection: index, type: String(event?.type), ...(eventId && { event_id: eventId }) };
      received.push(entry);
      switch (event?.type) {
        case 'session.update': {
          entry.session = event.session;
          const update = event.session ?? {};
          if (conversationSession && update.type === 'transcription') {
            return error('invalid_parameter', 'Passing a transcription session update event to a realtime session is not allowed.', eventId, 'session.type');
          }
          if (update.type !== 'transcription')
            return error('invalid_value', `Invalid value: '${update.type}'. Supported values are: 'transcription'.`, eventId, 'session.type');
          const input = update.audio?.input ?? {};
          const model = input.transcription?.model;
          if (model !== undefined && !models.includes(model)) {
            error('invalid_model', `Model "${model}" is not supported in transcription mode.`, eventId);
            closeWith(4000, 'invalid_request_error.invalid_model');
            return;
          }
          const format = input.format;
          if (format && !((format.type === 'audio/pcm' && (format.rate ?? 24000) === 24000) || format.type === 'audio/pcmu' || format.type === 'audio/pcma')) {
            return error('invalid_value', `Invalid audio format ${JSON.stringify(format)}.`, eventId, 'session.audio.input.format');
          }
          const include = update.include;
          if (include !== undefined && include !== null && (!Array.isArray(include) || include.some((value: unknown) => value !== LOGPROBS_INCLUDE))) {
            return error('invalid_value', `Invalid value in 'session.include': supported values are '${LOGPROBS_INCLUDE}'.`, eventId, 'session.include');
          }
          const detection = input.turn_detection;
          if (detection !== undefined && detection !== null && !['server_vad', 'semantic_vad'].includes(detection.type)) {
            return error('invalid_value', `Invalid turn detection type ${JSON.stringify(detection.type)}.`, eventId, 'session.audio.input.turn_detection.type');
          }
          session = {
            ...session,
            ...(include !== undefined && { include }),
            audio: {
              input: {
                ...session.audio.input,
                ...(format && { format }),
                ...(input.transcription !== undefined && { transcription: input.transcription }),
                ...(detection !== undefined && { turn_detection: detection === null ? null : { ...DEFAULT_TURN_DETECTION, ...detection } }),
              },
            },
          };
          const delay = upstream.faults.sessionUpdatedDelayMs ?? 0;
          if (delay === Infinity) return;
          at(delay, () => send({ type: 'session.updated', session }));
          return;
        }
        case 'input_audio_buffer.append': {
          if (typeof event.audio !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(event.audio))
            return error('invalid_value', 'Invalid base64 audio.', eventId, 'audio');
          const bytes = Buffer.from(event.audio, 'base64');
          if (session.audio.input.format.type === 'audio/pcm' && bytes.length % 2 !== 0)
            return error('invalid_value', 'PCM16 audio needs an even byte count.', eventId, 'audio');
          const format = session.audio.input.format.type;
          entry.bytes = bytes.length;
          entry.format = format;
          buffer.push(bytes);
          bufferedMs += bytes.length / bytesPerMs();
          if (!bufferedFormats.includes(format)) bufferedFormats.push(format);
          appends += 1;
          detect(bytes);
          const fault = upstream.faults.closeAfterAppends;
          if (fault && appends >= fault.appends) {
            delete upstream.faults.closeAfterAppends;
            closeWith(fault.code, fault.reason);
          }
          return;
        }
        case 'input_audio_buffer.commit': {
          if (upstream.faults.garbageOnCommit) {
            delete upstream.faults.garbageOnCommit;
            ws.send('<html>502 Bad Gateway</html>');
            return;
          }
          const ms = bufferedMs;
          if (ms < 100) {
            return error(
              'input_audio_buffer_commit_empty',
              `Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has ${ms.toFixed(2)}ms of audio.`,
              eventId,
            );
          }
          // A manual commit during speech takes the item the VAD had announced.
          const itemId = speechItemId ?? undefined;
          speechItemId = null;
          silentMs = 0;
          commit('client', itemId);
          return;
        }
        case 'input_audio_buffer.clear':
          buffer = [];
          bufferedMs = 0;
          bufferedFormats = [];
          speechItemId = null;
          silentMs = 0;
          send({ type: 'input_audio_buffer.cleared' });
          return;
        default:
          return error('invalid_value', `Invalid value: '${String(event?.type)}'.`, eventId, 'type');
      }
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstream.url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/realtime`;
  upstream.close = async () => {
    for (const timer of timers) clearTimeout(timer);
    for (const socket of sockets) socket.terminate();
    wss.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return upstream;
}
