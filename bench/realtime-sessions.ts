/**
 * N concurrent /v1/realtime sessions, each a real `ws` client streaming 24 kHz PCM16 in 20 ms
 * appends in real time (a speech clip and silence, looped) with server VAD on, against a
 * server in a child process (so the clients' CPU is not counted as the server's) running the
 * real session engine and WebRTC VAD over scripted providers of fixed latency (transcriber
 * 50 ms, LLM first token 100 ms, TTS first audio 50 ms).
 *
 * Prints per session count the median over runs of: server CPU (% of one core, and µs per
 * 20 ms input frame per session), server RSS per session, the share of client frames sent
 * more than 20 ms late, the server's event-loop delay p99, and the gateway's own added latency
 * from the synthesizer yielding a chunk to the client receiving it (p50 / p99); then ratios
 * against the smallest count, and the largest count held (< 1 % late frames, p99 added
 * latency ≤ 5 ms).
 *
 * --workers N (N > 1) runs the server as N workers behind a primary on one port, as
 * `speechbridge serve --workers N` does (src/server/cluster-primary.ts); its CPU and RSS are
 * the primary's and every worker's added up, the loop delay the worst worker's.
 *
 * --append-ms N has each client send N ms of audio per append (20 by default; a multiple of
 * 20); CPU is still counted per 20 ms of input audio, so the figures compare across sizes.
 * --no-replies turns the responses off (`create_response: false`: turns are still detected,
 * committed and transcribed), to part the input path's cost from the replies'.
 * --floor replaces the gateway by the wire alone: a bare `ws` server on the same port layout
 * that reads each append as the door does first (bounded JSON parse, base64 decode) and does
 * nothing else, the least any server of this protocol in Node spends per message.
 * --max-utilization X sets the server's MAX_EVENT_LOOP_UTILIZATION: sessions it refuses over
 * capacity (503) are counted and stream nothing, and the figures are the admitted sessions'.
 * --ramp-seconds N spreads the connections over N s (1 by default).
 *
 *   node --import tsx bench/realtime-sessions.ts [counts…] [--runs 3] [--seconds 5] [--workers 1]
 *     [--append-ms 20] [--no-replies] [--floor] [--max-utilization 0.9] [--ramp-seconds 1]
 *   e.g. `node --import tsx bench/realtime-sessions.ts 10 100 500` (default), ~70 s in all.
 */
import { fork, type ChildProcess } from 'node:child_process';
import cluster from 'node:cluster';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { decodeBase64Audio, encodeBase64Audio } from '../src/audio/base64.ts';
import type { PcmAudio } from '../src/audio/pcm.ts';
import { resample } from '../src/audio/resample.ts';
import { readWav } from '../src/audio/wav.ts';
import { parseBoundedJson } from '../src/protocols/bounded-json.ts';
import type { SynthesizeRequest, Synthesizer } from '../src/providers/contracts.ts';
import { ScriptedResponder } from '../src/providers/testing/scripted-responder.ts';
import { ScriptedSynthesizer } from '../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../src/providers/testing/scripted-transcriber.ts';
import { startServer, type RunningServer } from '../src/server/app.ts';
import { startClusterPrimary } from '../src/server/cluster-primary.ts';
import { joinCluster, workerAssignment, workerServerOptions } from '../src/server/cluster-worker.ts';
import { loadConfig } from '../src/server/config.ts';
import { createLogger } from '../src/server/logging.ts';
import { sharedAudioPath } from '../test/helpers/shared.ts';
import { median } from './median.ts';

/** The unit of cost and of lateness: 20 ms of input audio, the usual append. */
const FRAME_MS = 20;
/** Samples at the start of a stamped chunk: a marker and three 15-bit words of the time. */
const MARKER = -32768;
/** Seconds of warm-up after the last connection, before measuring. */
const WARMUP_SECONDS = 2;

interface ServerSample {
  cpuMicros: number;
  rssBytes: number;
  loopDelayP99Ms: number;
}

type ServerMessage = { type: 'ready'; url: string } | ({ type: 'sample' } & ServerSample);

// ── Server (child process) ──────────────────────────────────────────────────────────────

/** Wraps a synthesizer: each chunk's first samples carry the wall time it was yielded. */
class StampingSynthesizer implements Synthesizer {
  readonly name = 'stamping';
  constructor(private readonly inner: Synthesizer) {}

  get capabilities() {
    return this.inner.capabilities;
  }

  async *synthesize(request: SynthesizeRequest): AsyncIterable<PcmAudio> {
    for await (const chunk of this.inner.synthesize(request)) {
      const samples = chunk.samples.slice();
      // Tenths of a millisecond since the epoch need 44 bits: three 15-bit words.
      const stamp = Math.round((performance.timeOrigin + performance.now()) * 10);
      samples[0] = MARKER;
      samples[1] = Math.floor(stamp / 2 ** 30) & 0x7fff;
      samples[2] = Math.floor(stamp / 2 ** 15) & 0x7fff;
      samples[3] = stamp & 0x7fff;
      yield { samples, sampleRate: chunk.sampleRate };
    }
  }
}

/** A sample of this process's CPU, RSS and event-loop delay. */
function processSampler(): { sample: () => ServerSample; reset: () => void } {
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  return {
    sample: () => {
      const cpu = process.cpuUsage();
      return { cpuMicros: cpu.user + cpu.system, rssBytes: process.memoryUsage().rss, loopDelayP99Ms: loop.percentile(99) / 1e6 };
    },
    reset: () => loop.reset(),
  };
}

/** Answers the clients' process: samples, resets and stop. */
function serveSamples(sampler: ReturnType<typeof processSampler>, close: () => Promise<void>): void {
  process.on('message', (message: { type: string }) => {
    if (message.type === 'reset') sampler.reset();
    if (message.type === 'sample') process.send!({ type: 'sample', ...sampler.sample() });
    if (message.type === 'stop') void close().then(() => process.exit(0));
  });
}

/** --floor: the wire alone, each append read as the door reads it first and then dropped. */
async function runFloorServer(): Promise<void> {
  const sampler = processSampler();
  const http = createServer();
  const wss = new WebSocketServer({ server: http, path: '/v1/realtime', maxPayload: 16 * 1024 * 1024 });
  let samples = 0;
  wss.on('connection', (socket) => {
    socket.on('message', (data: Buffer) => {
      const parsed = parseBoundedJson(data.toString());
      if (!parsed.ok) return;
      const { audio } = parsed.value as { audio?: unknown };
      if (typeof audio === 'string') samples += decodeBase64Audio(audio, 'pcm16').length;
    });
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  serveSamples(sampler, async () => {
    wss.close();
    http.close();
    if (samples === 0) console.error('the floor server decoded no audio');
  });
  process.send!({ type: 'ready', url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/v1/realtime` });
}

async function runServer({ workers, floor, maxUtilization }: BenchOptions): Promise<void> {
  if (floor) return runFloorServer();
  if (workers > 1 && cluster.isPrimary) return runPrimary(workers);
  const transcriber = new ScriptedTranscriber({ texts: 'what is the weather like', latencyMs: 50 });
  const responder = new ScriptedResponder({ script: { text: 'It is sunny. It will stay warm all afternoon.' }, firstTokenLatencyMs: 100, deltaLatencyMs: 5 });
  const synthesizer = new StampingSynthesizer(new ScriptedSynthesizer({ latencyMs: 50 }));
  const providers = {
    transcriber,
    responder,
    synthesizer,
    summary: { transcriber: { engine: 'scripted' }, responder: { engine: 'scripted' }, synthesizer: { engine: 'scripted' }, vad: { engine: 'webrtc' } },
    close: async () => {},
  };
  const config = loadConfig({ SERVER_NAME: '127.0.0.1', SERVER_PORT: '0', LOG_LEVEL: 'silent', MAX_EVENT_LOOP_UTILIZATION: String(maxUtilization) });
  const logger = createLogger('silent');
  const sampler = processSampler();
  let server: RunningServer;
  if (cluster.isWorker) {
    server = await startServer({ config, providers, logger, ...workerServerOptions(workerAssignment()) });
    process.on('message', (message: { type: string }) => {
      if (message.type === 'bench:reset') sampler.reset();
      if (message.type === 'bench:sample') process.send!({ type: 'bench:sample', ...sampler.sample() });
    });
    joinCluster(server, { engines: providers.summary }, () => server.close());
    return;
  }
  server = await startServer({ config, providers, logger });
  serveSamples(sampler, () => server.close());
  process.send!({ type: 'ready', url: `${server.url.replace(/^http/, 'ws')}/v1/realtime` });
}

/** The primary of a server with `workers` workers: its samples add up its own and every worker's. */
async function runPrimary(workers: number): Promise<void> {
  const primary = await startClusterPrimary({ workers, host: '127.0.0.1', port: 0, logger: createLogger('silent') });
  const workerSamples = async (): Promise<ServerSample[]> =>
    Promise.all(
      Object.values(cluster.workers ?? {}).map(
        (worker) =>
          new Promise<ServerSample>((resolve) => {
            const onMessage = (message: { type: string } & ServerSample) => {
              if (message.type !== 'bench:sample') return;
              worker!.off('message', onMessage);
              resolve(message);
            };
            worker!.on('message', onMessage);
            worker!.send({ type: 'bench:sample' });
          }),
      ),
    );
  process.on('message', (message: { type: string }) => {
    if (message.type === 'reset') for (const worker of Object.values(cluster.workers ?? {})) worker!.send({ type: 'bench:reset' });
    if (message.type === 'sample') {
      void workerSamples().then((samples) => {
        const cpu = process.cpuUsage();
        process.send!({
          type: 'sample',
          cpuMicros: samples.reduce((sum, one) => sum + one.cpuMicros, cpu.user + cpu.system),
          rssBytes: samples.reduce((sum, one) => sum + one.rssBytes, process.memoryUsage().rss),
          loopDelayP99Ms: Math.max(...samples.map((one) => one.loopDelayP99Ms)),
        });
      });
    }
    if (message.type === 'stop') void primary.close().then(() => process.exit(0));
  });
  process.send!({ type: 'ready', url: `${primary.url.replace(/^http/, 'ws')}/v1/realtime` });
}

// ── Clients (this process) ──────────────────────────────────────────────────────────────

interface RunResult {
  /** Sessions offered. */
  sessions: number;
  /** Sessions the server took (all but those refused over capacity). */
  admitted: number;
  cpuPercent: number;
  /** Server CPU per 20 ms of input audio per session. */
  cpuMicrosPerFrame: number;
  rssPerSessionMb: number;
  lateFrameShare: number;
  loopDelayP99Ms: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  responses: number;
}

class ServerProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {}

  static async start({ workers, floor, maxUtilization }: BenchOptions): Promise<ServerProcess> {
    const args = ['--server', '--workers', String(workers), '--max-utilization', String(maxUtilization), ...(floor ? ['--floor'] : [])];
    const child = fork(fileURLToPath(import.meta.url), args, {
      execArgv: ['--import', 'tsx', ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.BENCH_CPU_PROF] : [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const [message] = (await once(child, 'message')) as [ServerMessage];
    if (message.type !== 'ready') throw new Error('the server process did not start');
    return new ServerProcess(child, message.url);
  }

  async sample(): Promise<ServerSample> {
    this.child.send({ type: 'sample' });
    const [message] = (await once(this.child, 'message')) as [ServerMessage];
    if (message.type !== 'sample') throw new Error('unexpected message from the server process');
    return message;
  }

  resetLoopDelay(): void {
    this.child.send({ type: 'reset' });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.send({ type: 'stop' });
    await exited;
  }

  /** Ends a server that fell too far behind to answer (its workers leave with their primary). */
  kill(): void {
    this.child.kill('SIGKILL');
  }
}

/** One client session: streams the appends in real time, measures send lateness and audio latency. */
class BenchSession {
  private socket: WebSocket | null = null;
  private append = 0;
  private startedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  measuring = false;
  appendsSent = 0;
  lateAppends = 0;
  responses = 0;
  readonly latenciesMs: number[] = [];

  constructor(
    private readonly url: string,
    private readonly appends: string[],
    private readonly firstAppend: number,
    private readonly appendMs: number,
    private readonly replies: boolean,
  ) {}

  /** Opens the session and starts streaming; false when the server refused it over capacity (503). */
  async open(): Promise<boolean> {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.on('message', (data) => this.onMessage(data.toString()));
    try {
      await once(socket, 'open');
    } catch (error) {
      if ((error as Error).message.includes('503')) return false;
      throw error;
    }
    socket.send(
      JSON.stringify({
        type: 'session.update',
        session: { type: 'realtime', audio: { input: { turn_detection: { type: 'server_vad', create_response: this.replies } } } },
      }),
    );
    this.startedAt = performance.now();
    this.tick();
    return true;
  }

  private tick(): void {
    const socket = this.socket;
    if (socket?.readyState !== WebSocket.OPEN) return;
    const due = this.startedAt + this.append * this.appendMs;
    const lateness = performance.now() - due;
    socket.send(this.appends[(this.firstAppend + this.append) % this.appends.length]);
    if (this.measuring) {
      this.appendsSent++;
      // Late by more than one 20 ms frame, whatever the append size.
      if (lateness > FRAME_MS) this.lateAppends++;
    }
    this.append++;
    this.timer = setTimeout(() => this.tick(), Math.max(0, this.startedAt + this.append * this.appendMs - performance.now()));
  }

  private onMessage(text: string): void {
    const receivedAt = performance.timeOrigin + performance.now();
    if (text.includes('"response.done"')) {
      if (this.measuring) this.responses++;
      return;
    }
    if (!this.measuring || !text.includes('"response.output_audio.delta"')) return;
    const event = JSON.parse(text) as { delta: string };
    const bytes = Buffer.from(event.delta, 'base64');
    const samples = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);
    for (let i = 0; i + 3 < samples.length; i++) {
      if (samples[i] !== MARKER) continue;
      const stamp = samples[i + 1] * 2 ** 30 + samples[i + 2] * 2 ** 15 + samples[i + 3];
      this.latenciesMs.push(receivedAt - stamp / 10);
      i += 3;
    }
  }

  /** Drops the connection at once (a run given up on). */
  terminate(): void {
    if (this.timer) clearTimeout(this.timer);
    this.socket?.terminate();
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    const socket = this.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) return;
    const closed = once(socket, 'close');
    socket.close();
    await closed;
  }
}

/** The clip as append events of `appendMs` each. */
async function clipAppends(appendMs: number): Promise<string[]> {
  // One turn: "one two three" (2.7 s) and 1.5 s of silence, so VAD ends it and a response plays.
  const speech = await resample(readWav(readFileSync(sharedAudioPath('en_one_two_three.wav'))), 24000);
  const samples = new Int16Array(speech.samples.length + 36000);
  samples.set(speech.samples);
  const length = (24000 * appendMs) / 1000;
  const appends: string[] = [];
  for (let start = 0; start + length <= samples.length; start += length) {
    appends.push(JSON.stringify({ type: 'input_audio_buffer.append', audio: encodeBase64Audio(samples.subarray(start, start + length), 'pcm16') }));
  }
  return appends;
}

/** A run longer than its ramp-up, warm-up and measured seconds by this much is given up: the server fell behind. */
const OVERRUN_SECONDS = 60;

/** One run, or null when the server fell so far behind that the run did not end in time. */
async function run(count: number, appends: string[], options: BenchOptions): Promise<RunResult | null> {
  const server = await ServerProcess.start(options);
  // Each session starts at a random point of the clip, so turns do not all end at once.
  const sessions = Array.from(
    { length: count },
    () => new BenchSession(server.url, appends, Math.floor(Math.random() * appends.length), options.appendMs, options.replies),
  );
  let deadline: NodeJS.Timeout | undefined;
  const overrun = new Promise<null>((resolve) => {
    deadline = setTimeout(
      () => {
        for (const session of sessions) session.terminate();
        server.kill();
        resolve(null);
      },
      (options.rampSeconds + WARMUP_SECONDS + options.seconds + OVERRUN_SECONDS) * 1000,
    );
  });
  const measured = measure(server, sessions, options);
  // A run given up on leaves its measurement pending: its sockets and server are gone.
  measured.catch(() => {});
  try {
    return await Promise.race([measured, overrun]);
  } finally {
    clearTimeout(deadline);
  }
}

async function measure(server: ServerProcess, offered: BenchSession[], options: BenchOptions): Promise<RunResult> {
  const { seconds, appendMs, rampSeconds } = options;
  const sessions: BenchSession[] = [];
  try {
    const baseline = await server.sample();
    // Connections spread over the ramp, as users arrive, not as one burst.
    const rampStart = performance.now();
    for (const [index, session] of offered.entries()) {
      const wait = rampStart + (index * rampSeconds * 1000) / offered.length - performance.now();
      if (wait > 0) await sleep(wait);
      if (await session.open()) sessions.push(session);
    }
    const count = sessions.length;
    await sleep(WARMUP_SECONDS * 1000);
    for (const session of sessions) session.measuring = true;
    server.resetLoopDelay();
    const start = await server.sample();
    const startedAt = performance.now();
    await sleep(seconds * 1000);
    const end = await server.sample();
    const wallMicros = (performance.now() - startedAt) * 1000;
    for (const session of sessions) session.measuring = false;
    const latencies = sessions.flatMap((session) => session.latenciesMs).sort((a, b) => a - b);
    const appendsSent = sessions.reduce((sum, session) => sum + session.appendsSent, 0);
    const lateAppends = sessions.reduce((sum, session) => sum + session.lateAppends, 0);
    const framesSent = (appendsSent * appendMs) / FRAME_MS;
    await Promise.all(sessions.map((session) => session.close()));
    return {
      sessions: offered.length,
      admitted: count,
      cpuPercent: ((end.cpuMicros - start.cpuMicros) / wallMicros) * 100,
      cpuMicrosPerFrame: framesSent === 0 ? Number.NaN : (end.cpuMicros - start.cpuMicros) / framesSent,
      rssPerSessionMb: (end.rssBytes - baseline.rssBytes) / count / (1024 * 1024),
      lateFrameShare: appendsSent === 0 ? 0 : lateAppends / appendsSent,
      loopDelayP99Ms: end.loopDelayP99Ms,
      latencyP50Ms: percentile(latencies, 0.5),
      latencyP99Ms: percentile(latencies, 0.99),
      responses: sessions.reduce((sum, session) => sum + session.responses, 0),
    };
  } finally {
    await server.stop();
  }
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}

/** Held: what a user does not notice (< 1 % of frames late, the gateway adding ≤ 5 ms at p99). */
const HELD_LATE_SHARE = 0.01;
const HELD_LATENCY_P99_MS = 5;

interface BenchOptions {
  counts: number[];
  runs: number;
  seconds: number;
  workers: number;
  appendMs: number;
  replies: boolean;
  floor: boolean;
  /** The server's MAX_EVENT_LOOP_UTILIZATION (0 = never refuses). */
  maxUtilization: number;
  rampSeconds: number;
}

function parseArgs(argv: string[]): BenchOptions {
  const options: BenchOptions = {
    counts: [],
    runs: 3,
    seconds: 5,
    workers: 1,
    appendMs: FRAME_MS,
    replies: true,
    floor: false,
    maxUtilization: 0,
    rampSeconds: 1,
  };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--runs') options.runs = Number(argv[++i]);
    else if (argv[i] === '--seconds') options.seconds = Number(argv[++i]);
    else if (argv[i] === '--workers') options.workers = Number(argv[++i]);
    else if (argv[i] === '--append-ms') options.appendMs = Number(argv[++i]);
    else if (argv[i] === '--no-replies') options.replies = false;
    else if (argv[i] === '--floor') options.floor = true;
    else if (argv[i] === '--max-utilization') options.maxUtilization = Number(argv[++i]);
    else if (argv[i] === '--ramp-seconds') options.rampSeconds = Number(argv[++i]);
    else if (/^\d+$/.test(argv[i])) options.counts.push(Number(argv[i]));
  }
  if (!Number.isInteger(options.workers) || options.workers < 1) throw new Error('--workers takes a whole number, 1 or more');
  if (!Number.isInteger(options.appendMs / FRAME_MS) || options.appendMs < FRAME_MS) throw new Error(`--append-ms takes a multiple of ${FRAME_MS}`);
  if (options.floor && options.workers > 1) throw new Error('--floor runs one process: leave --workers out');
  if (!(options.maxUtilization >= 0 && options.maxUtilization <= 1)) throw new Error('--max-utilization takes a share from 0 to 1');
  if (!(options.rampSeconds > 0)) throw new Error('--ramp-seconds takes a positive number');
  if (options.counts.length === 0) options.counts = [10, 100, 500];
  return options;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const { counts, runs, seconds, workers, appendMs, replies, floor, maxUtilization, rampSeconds } = options;
  const appends = await clipAppends(appendMs);
  const shape = floor
    ? 'the wire alone: a bare ws server that parses each append and decodes its audio'
    : (workers === 1 ? 'one server process' : `a primary and ${workers} workers`) +
      (replies ? '' : ', no replies') +
      (maxUtilization > 0 ? `, MAX_EVENT_LOOP_UTILIZATION ${maxUtilization}` : '');
  console.log(
    `realtime sessions (${shape}; ${appendMs} ms appends): ${runs} runs per count, ${seconds} s measured after ${rampSeconds + WARMUP_SECONDS} s of ramp-up and warm-up; medians over runs`,
  );
  const rows: RunResult[] = [];
  for (const count of counts) {
    const results: RunResult[] = [];
    for (let i = 0; i < runs; i++) {
      const result = await run(count, appends, options);
      if (result) results.push(result);
      else break;
    }
    if (results.length < runs) {
      console.log(
        `${String(count).padStart(5)} sessions | over capacity: the run was ${OVERRUN_SECONDS} s past its schedule and was stopped (the server fell behind its clients)`,
      );
      continue;
    }
    const row: RunResult = {
      sessions: count,
      admitted: median(results.map((result) => result.admitted)),
      cpuPercent: median(results.map((result) => result.cpuPercent)),
      cpuMicrosPerFrame: median(results.map((result) => result.cpuMicrosPerFrame)),
      rssPerSessionMb: median(results.map((result) => result.rssPerSessionMb)),
      lateFrameShare: median(results.map((result) => result.lateFrameShare)),
      loopDelayP99Ms: median(results.map((result) => result.loopDelayP99Ms)),
      latencyP50Ms: median(results.map((result) => result.latencyP50Ms)),
      latencyP99Ms: median(results.map((result) => result.latencyP99Ms)),
      responses: median(results.map((result) => result.responses)),
    };
    rows.push(row);
    console.log(
      `${String(count).padStart(5)} sessions${row.admitted < count ? ` (${row.admitted} admitted, the rest refused over capacity)` : ''} | server CPU ${row.cpuPercent.toFixed(1).padStart(6)} % of a core, ${row.cpuMicrosPerFrame.toFixed(0)} µs per 20 ms frame per session | RSS ${row.rssPerSessionMb.toFixed(2)} MB/session | ` +
        `late appends ${(row.lateFrameShare * 100).toFixed(2)} % | loop delay p99 ${row.loopDelayP99Ms.toFixed(1)} ms | ` +
        `added latency p50 ${row.latencyP50Ms.toFixed(1)} ms, p99 ${row.latencyP99Ms.toFixed(1)} ms | ${row.responses} responses`,
    );
  }
  const base = rows[0];
  for (const row of rows.slice(1)) {
    const cpuPerSession = row.cpuPercent / row.sessions / (base.cpuPercent / base.sessions);
    console.log(
      `${row.sessions} vs ${base.sessions} sessions: CPU per session ×${cpuPerSession.toFixed(2)}, RSS per session ×${(row.rssPerSessionMb / base.rssPerSessionMb).toFixed(2)}, ` +
        `latency p50 ×${(row.latencyP50Ms / base.latencyP50Ms).toFixed(2)}, p99 ×${(row.latencyP99Ms / base.latencyP99Ms).toFixed(2)}`,
    );
  }
  // Without replies there is no added latency to hold: late appends alone decide.
  const held = rows.filter((row) => row.lateFrameShare < HELD_LATE_SHARE && (!replies || floor || row.latencyP99Ms <= HELD_LATENCY_P99_MS));
  const rule = `< ${HELD_LATE_SHARE * 100} % late appends` + (replies && !floor ? `, p99 added latency ≤ ${HELD_LATENCY_P99_MS} ms` : '');
  console.log(
    held.length > 0
      ? `held (${rule}): up to ${Math.max(...held.map((row) => row.admitted))} sessions of those tried`
      : `held (${rule}): none of the counts tried`,
  );
}

if (process.argv.includes('--server')) await runServer(parseArgs(process.argv.slice(2)));
else await main();
