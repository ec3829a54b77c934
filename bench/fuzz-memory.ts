/**
 * Memory of a server under fuzzing: a server (scripted engines) runs in a child process while
 * this process sends it fuzzed messages on all four doors (test/helpers/fuzz-messages.ts,
 * the fuzz test's generator), a fresh session every 1,000 messages, 50 in flight at a time.
 * The child's RSS, V8 heap and external memory are read from /metrics every 10,000 messages,
 * then after a forced full GC, then after 10 s idle.
 *
 *   node --import tsx bench/fuzz-memory.ts [--messages 100000] [--max-old-space-size 64]
 *
 * What it showed (README, "Memory under fuzzing"): RSS grows during the run because V8 lets
 * its heap and the allocator's free pages grow before it collects, not because anything is
 * kept: the heap after a forced GC returns to its starting size, and with
 * --max-old-space-size the growth is capped.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { WebSocket } from 'ws';
import { CLIENT_MESSAGE_SCHEMAS as GATEWAY_SCHEMAS } from '../src/protocols/gateway/codec.ts';
import { CLIENT_EVENT_SCHEMAS } from '../src/protocols/openai-realtime/client-events.ts';
import { clientMessage as transcriptionsSchema } from '../src/protocols/transcriptions/codec.ts';
import { RealtimeClient } from '../test/e2e/realtime-harness.ts';
import { Fuzz, fieldCases, garbageCases, type TextCase } from '../test/helpers/fuzz-messages.ts';
import { startTestServer } from '../test/helpers/server.ts';
import { RealtimeSocket } from '../test/protocols/socketio/socketio-harness.ts';

const MAX_MESSAGE_BYTES = 1024 * 1024;
const SESSION_MESSAGES = 1000;
const IN_FLIGHT = 50;
const SAMPLE_EVERY = 10_000;

if (process.argv[2] === '--server') {
  const server = await startTestServer({}, { REALTIME_MAX_MESSAGE_MB: '1' });
  process.on('SIGUSR2', () => (globalThis as { gc?: () => void }).gc?.());
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
  process.stdout.write(`${server.url}\n`);
} else {
  await main();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { messages: { type: 'string', default: '100000' }, 'max-old-space-size': { type: 'string' }, seed: { type: 'string', default: '24301' } },
  });
  const total = Number(values.messages);
  const heapFlag = values['max-old-space-size'] ? [`--max-old-space-size=${values['max-old-space-size']}`] : [];
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--expose-gc', ...heapFlag, '--import', 'tsx', self, '--server'], {
    cwd: path.resolve(path.dirname(self), '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = (await once(child.stdout.setEncoding('utf8'), 'data')) as [string];
  const url = line.trim();
  const fuzz = new Fuzz(Number(values.seed));
  const pools = casePools(fuzz);

  console.log(`fuzzing ${url} with ${total} messages${heapFlag.length ? ` (${heapFlag[0]})` : ''}`);
  console.log('messages   rss MB  heap MB  external MB');
  await sample(url, 0);
  for (let sent = 0; sent < total;) {
    const batch = Math.min(SESSION_MESSAGES, total - sent);
    const door = (['realtime', 'gateway', 'transcriptions', 'socketio'] as const)[(sent / SESSION_MESSAGES) % 4];
    await fuzzSession(url, door, pools, fuzz, batch);
    sent += batch;
    if (sent % SAMPLE_EVERY === 0 || sent === total) await sample(url, sent);
  }
  child.kill('SIGUSR2');
  await new Promise((resolve) => setTimeout(resolve, 2000));
  await sample(url, total, 'after a full GC');
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  await sample(url, total, 'after 10 s idle');
  child.kill('SIGTERM');
  await once(child, 'exit');
}

interface Pools {
  realtime: TextCase[];
  gateway: TextCase[];
  transcriptions: TextCase[];
}

function casePools(fuzz: Fuzz): Pools {
  const realtimeBases = Object.keys(CLIENT_EVENT_SCHEMAS).map((type) => ({ type }));
  const realtime = Object.entries(CLIENT_EVENT_SCHEMAS).flatMap(([type, schema]) => fieldCases(fuzz, type, schema, { type }));
  const gatewayValid = [{ type: 'start' }, { type: 'audio', audio: '' }];
  const gateway = (['start', 'audio'] as const).flatMap((type) => fieldCases(fuzz, type, GATEWAY_SCHEMAS[type], { type }));
  const start = { action: 'start', format: 'pcm16', sample_rate: 16000 };
  const transcriptions = fieldCases(fuzz, 'message', transcriptionsSchema, start);
  return {
    realtime: [...realtime, ...garbageCases(fuzz, 'type', realtimeBases, realtime.length, MAX_MESSAGE_BYTES)],
    gateway: [...gateway, ...garbageCases(fuzz, 'type', gatewayValid, gateway.length, MAX_MESSAGE_BYTES)],
    transcriptions: [...transcriptions, ...garbageCases(fuzz, 'action', [start], transcriptions.length, MAX_MESSAGE_BYTES)],
  };
}

/** One session of `count` fuzzed messages, IN_FLIGHT at a time; resolves once every one has its error. */
async function fuzzSession(url: string, door: 'realtime' | 'gateway' | 'transcriptions' | 'socketio', pools: Pools, fuzz: Fuzz, count: number): Promise<void> {
  if (door === 'socketio') {
    const client = await RealtimeSocket.connect(url, { transports: ['websocket'] });
    for (let sent = 0; sent < count; sent += IN_FLIGHT) {
      const replies = Array.from({ length: Math.min(IN_FLIGHT, count - sent) }, () => {
        const deep = JSON.parse(fuzz.deep(fuzz.int(65, 400))) as unknown;
        const payload = fuzz.pick([
          deep,
          { audio: 5 },
          { session: { voice: 'x'.repeat(200) } },
          { audio: new Uint8Array(3) },
          'x'.repeat(fuzz.int(1, 100_000)),
        ]);
        return client.socket.timeout(10_000).emitWithAck(fuzz.pick(['audio', 'update_session', 'nope']), payload);
      });
      await Promise.all(replies);
    }
    client.close();
    return;
  }
  const path = { realtime: '/v1/realtime', gateway: '/', transcriptions: '/v1/transcriptions' }[door];
  const socket = (await RealtimeClient.connect(`${url.replace(/^http/, 'ws')}${path}`)).socket as WebSocket;
  let errors = 0;
  let waiting: { target: number; resolve: () => void } | null = null;
  socket.on('message', (data, isBinary) => {
    if (isBinary || !/"error"/.test(data.toString('utf8', 0, 200))) return;
    errors++;
    if (waiting && errors >= waiting.target) waiting.resolve();
  });
  const pool = pools[door];
  for (let sent = 0; sent < count;) {
    const batch = Math.min(IN_FLIGHT, count - sent);
    for (let i = 0; i < batch; i++) socket.send(fuzz.pick(pool).frame);
    sent += batch;
    const target = sent;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${door}: ${errors} errors for ${target} messages after 10 s`)), 10_000);
      waiting = { target, resolve: () => (clearTimeout(timer), resolve()) };
      if (errors >= target) waiting.resolve();
    });
  }
  socket.close();
  await once(socket, 'close');
}

async function sample(url: string, messages: number, note = ''): Promise<void> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const metric = (name: string) => Number(/^(\S+) (\S+)$/m.exec(text.split('\n').find((row) => row.startsWith(`${name} `)) ?? '')?.[2] ?? NaN) / (1024 * 1024);
  const rss = metric('speechbridge_process_resident_memory_bytes');
  const heap = metric('speechbridge_nodejs_heap_size_used_bytes');
  const external = metric('speechbridge_nodejs_external_memory_bytes');
  console.log(`${String(messages).padStart(8)}  ${rss.toFixed(1).padStart(7)}  ${heap.toFixed(1).padStart(7)}  ${external.toFixed(1).padStart(11)}  ${note}`);
}
