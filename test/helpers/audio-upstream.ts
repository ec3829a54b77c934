/**
 * A real OpenAI-compatible audio server on 127.0.0.1, port 0: `POST /v1/audio/transcriptions`
 * (multipart in, `{"text"}` JSON out) and `POST /v1/audio/speech` (JSON in, raw PCM16 24 kHz
 * out, as `response_format: "pcm"`), and a diarization endpoint, `POST /diarize` (multipart in,
 * `{"segments": […]}` out, as DIAR_URL expects). Each answer is the normal one or a misbehaviour
 * (misbehaviour.ts) chosen per request, so a test can make one stage huge, endless, dripping or
 * empty and the next turn normal again. Every answer closes its connection (`Connection:
 * close`), so a socket still open afterwards is one the gateway failed to close.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { countConnections, pieces, recordAnswer, writeBody, type AnswerRecord, type ConnectionCount, type Misbehaviour } from './misbehaviour.ts';

export const SPEECH_SAMPLE_RATE = 24_000;

/** The normal answer, a misbehaviour, or an HTTP error status (with headers such as Retry-After). */
export type AudioBehaviour = Misbehaviour | 'normal' | { status: number; message: string; headers?: Record<string, string> };

export interface AudioUpstreamOptions {
  /** How /v1/audio/transcriptions answers its request number `index` (0-based); default normal. */
  transcription?: (index: number) => AudioBehaviour;
  /** The text of a normal transcription; default "hello there". */
  transcript?: string;
  /** How /v1/audio/speech answers; default normal. */
  speech?: (index: number, input: string) => AudioBehaviour;
  /** Audio per input character of normal speech; default 20 ms. */
  msPerChar?: number;
  /** How /diarize answers; default normal. */
  diarization?: (index: number) => AudioBehaviour;
}

export interface AudioUpstream {
  /** API root, e.g. http://127.0.0.1:41234/v1. */
  baseURL: string;
  /** The diarization endpoint, for DIAR_URL. */
  diarizationURL: string;
  /** Every answer, oldest first. */
  answers: AnswerRecord[];
  connections: ConnectionCount;
  close(): Promise<void>;
}

/** A 440 Hz tone at a quarter of full scale, one 24 kHz period-aligned block of PCM16 LE. */
const TONE = (() => {
  const samples = SPEECH_SAMPLE_RATE / 40;
  const bytes = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) bytes.writeInt16LE(Math.round(8192 * Math.sin((2 * Math.PI * 440 * i) / SPEECH_SAMPLE_RATE)), i * 2);
  return bytes;
})();

export async function startAudioUpstream(options: AudioUpstreamOptions = {}): Promise<AudioUpstream> {
  const answers: AnswerRecord[] = [];
  let transcriptions = 0;
  let speeches = 0;
  let diarizations = 0;
  const server = createServer((request, response) => {
    const parts: Buffer[] = [];
    request.on('data', (part: Buffer) => parts.push(part));
    request.on('end', () => {
      const route = request.url?.split('?')[0] ?? '';
      if (request.method === 'POST' && route === '/v1/audio/transcriptions') {
        const behaviour = options.transcription?.(transcriptions++) ?? 'normal';
        const record = recordAnswer(route, behaviour, response);
        answers.push(record);
        void transcribe(response, record, behaviour, options.transcript ?? 'hello there');
      } else if (request.method === 'POST' && route === '/v1/audio/speech') {
        const input = String((JSON.parse(Buffer.concat(parts).toString('utf8')) as { input?: unknown }).input ?? '');
        const behaviour = options.speech?.(speeches++, input) ?? 'normal';
        const record = recordAnswer(route, behaviour, response);
        answers.push(record);
        void speak(response, record, behaviour, input, options.msPerChar ?? 20);
      } else if (request.method === 'POST' && route === '/diarize') {
        const behaviour = options.diarization?.(diarizations++) ?? 'normal';
        const record = recordAnswer(route, behaviour, response);
        answers.push(record);
        void diarize(response, record, behaviour);
      } else {
        response.writeHead(404, { 'content-type': 'application/json', connection: 'close' }).end(JSON.stringify({ error: { message: `no route ${route}` } }));
      }
    });
  });
  const connections = countConnections(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    diarizationURL: `http://127.0.0.1:${port}/diarize`,
    answers,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function transcribe(response: ServerResponse, record: AnswerRecord, behaviour: AudioBehaviour, transcript: string): Promise<void> {
  await jsonAnswer(response, record, behaviour, { text: transcript });
}

async function diarize(response: ServerResponse, record: AnswerRecord, behaviour: AudioBehaviour): Promise<void> {
  await jsonAnswer(response, record, behaviour, { segments: [{ start: 0, end: 1, speaker: 'SPEAKER_00' }] });
}

/** `normal` as JSON; a misbehaviour as one JSON string field that grows, drips or never closes. */
async function jsonAnswer(response: ServerResponse, record: AnswerRecord, behaviour: AudioBehaviour, normal: unknown): Promise<void> {
  const head = { 'content-type': 'application/json', connection: 'close' };
  if (behaviour === 'normal') {
    const body = JSON.stringify(normal);
    record.bytesWritten = Buffer.byteLength(body);
    response.writeHead(200, head).end(body);
    return;
  }
  if ('status' in behaviour) {
    sendStatus(response, behaviour);
    return;
  }
  if (behaviour.kind === 'empty') {
    response.writeHead(200, { ...head, 'content-length': '0' }).end();
    return;
  }
  // One JSON string that never closes (or closes after `bytes`): valid JSON until the very end.
  response.writeHead(200, head);
  const letters = Buffer.from('a');
  if (behaviour.kind === 'drip') await writeBody(response, record, { head: '{"text":"', piece: () => letters, everyMs: behaviour.everyMs });
  else await writeBody(response, record, { head: '{"text":"', piece: pieces(behaviour.kind === 'huge' ? behaviour.bytes : Infinity, letters), tail: '"}' });
}

async function speak(response: ServerResponse, record: AnswerRecord, behaviour: AudioBehaviour, input: string, msPerChar: number): Promise<void> {
  const head = { 'content-type': 'audio/pcm', connection: 'close' };
  if (behaviour === 'normal') {
    const bytes = Math.round((input.length * msPerChar * SPEECH_SAMPLE_RATE) / 1000) * 2;
    response.writeHead(200, head);
    await writeBody(response, record, { piece: pieces(bytes, TONE) });
    return;
  }
  if ('status' in behaviour) {
    sendStatus(response, behaviour);
    return;
  }
  if (behaviour.kind === 'empty') {
    response.writeHead(200, head).end();
    return;
  }
  response.writeHead(200, head);
  // 20 ms of tone a drop: a real stream's chunk size.
  const drop = TONE.subarray(0, (SPEECH_SAMPLE_RATE / 50) * 2);
  if (behaviour.kind === 'drip') await writeBody(response, record, { piece: () => drop, everyMs: behaviour.everyMs });
  else await writeBody(response, record, { piece: pieces(behaviour.kind === 'huge' ? behaviour.bytes : Infinity, TONE) });
}

function sendStatus(response: ServerResponse, answer: { status: number; message: string; headers?: Record<string, string> }): void {
  const type = answer.status >= 500 ? 'server_error' : answer.status === 429 ? 'rate_limit_error' : 'invalid_request_error';
  response
    .writeHead(answer.status, { 'content-type': 'application/json', connection: 'close', ...answer.headers })
    .end(JSON.stringify({ error: { message: answer.message, type, param: null, code: null } }));
}
