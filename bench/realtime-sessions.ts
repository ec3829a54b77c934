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
 *   node --import tsx bench/realtime-sessions.ts [counts…] [--runs 3] [--seconds 5] [--workers 1]
 *   e.g. `node --import tsx bench/realtime-sessions.ts 10 100 500` (default), ~70 s in all.
 */
import { fork, type ChildProcess } from 'node:child_process';
import cluster from 'node:cluster';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { encodeBase64Audio } from '../src/audio/base64.ts';
import type { PcmAudio } from '../src/audio/pcm.ts';
import { resample } from '../src/audio/resample.ts';
import { readWav } from '../src/audio/wav.ts';
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

const FRAME_MS = 20;
/** Samples at the start of a stamped chunk: a marker and three 15-bit words of the time. */
const MARKER = -32768;
/** Seconds of connecting (spread evenly) and of warm-up before measuring. */
const RAMP_SECONDS = 1;
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

async function runServer(workers: number): Promise<void> {
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
  const config = loadConfig({ SERVER_NAME: '127.0.0.1', SERVER_PORT: '0', LOG_LEVEL: 'silent' });
  const logger = createLogger('silent');
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const sample = (): ServerSample => {
    const cpu = process.cpuUsage();
    return { cpuMicros: cpu.user + cpu.system, rssBytes: process.memoryUsage().rss, loopDelayP99Ms: loop.percentile(99) / 1e6 };
  };
  let server: RunningServer;
  if (cluster.isWorker) {
    server = await startServer({ config, providers, logger, ...workerServerOptions(workerAssignment()) });
    process.on('message', (message: { type: string }) => {
      if (message.type === 'bench:reset') loop.reset();
      if (message.type === 'bench:sample') process.send!({ type: 'bench:sample', ...sample() });
    });
    joinCluster(server, { engines: providers.summary }, () => server.close());
    return;
  }
  server = await startServer({ config, providers, logger });
  process.on('message', (message: { type: string }) => {
    if (message.type === 'reset') loop.reset();
    if (message.type === 'sample') process.send!({ type: 'sample', ...sample() });
    if (message.type === 'stop') void server.close().then(() => process.exit(0));
  });
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
  sessions: number;
  cpuPercent: number;
  /** Server CPU per 20 ms input frame per session. */
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

  static async start(workers: number): Promise<ServerProcess> {
    const child = fork(fileURLToPath(import.meta.url), ['--server', '--workers', String(workers)], {
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
    const exited = once(this.child, 'exit');
    this.child.send({ type: 'stop' });
    await exited;
  }
}

/** One client session: streams the frames in real time, measures send lateness and audio latency. */
class BenchSession {
  private socket!: WebSocket;
  private frame = 0;
  private startedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  measuring = false;
  framesSent = 0;
  lateFrames = 0;
  responses = 0;
  readonly latenciesMs: number[] = [];

  constructor(
    private readonly url: string,
    private readonly frames: string[],
    private readonly firstFrame: number,
  ) {}

  async open(): Promise<void> {
    this.socket = new WebSocket(this.url);
    this.socket.on('message', (data) => this.onMessage(data.toString()));
    await once(this.socket, 'open');
    this.socket.send(JSON.stringify({ type: 'session.update', session: { type: 'realtime', audio: { input: { turn_detection: { type: 'server_vad' } } } } }));
    this.startedAt = performance.now();
    this.tick();
  }

  private tick(): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    const due = this.startedAt + this.frame * FRAME_MS;
    const lateness = performance.now() - due;
    this.socket.send(this.frames[(this.firstFrame + this.frame) % this.frames.length]);
    if (this.measuring) {
      this.framesSent++;
      if (lateness > FRAME_MS) this.lateFrames++;
    }
    this.frame++;
    this.timer = setTimeout(() => this.tick(), Math.max(0, this.startedAt + this.frame * FRAME_MS - performance.now()));
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

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    if (this.socket.readyState === WebSocket.CLOSED) return;
    const closed = once(this.socket, 'close');
    this.socket.close();
    await closed;
  }
}

async function clipFrames(): Promise<string[]> {
  // One turn: "one two three" (2.7 s) and 1.5 s of silence, so VAD ends it and a response plays.
  const speech = await resample(readWav(readFileSync(sharedAudioPath('en_one_two_three.wav'))), 24000);
  const samples = new Int16Array(speech.samples.length + 36000);
  samples.set(speech.samples);
  const frame = (24000 * FRAME_MS) / 1000;
  const frames: string[] = [];
  for (let start = 0; start + frame <= samples.length; start += frame) {
    frames.push(JSON.stringify({ type: 'input_audio_buffer.append', audio: encodeBase64Audio(samples.subarray(start, start + frame), 'pcm16') }));
  }
  return frames;
}

async function run(count: number, seconds: number, frames: string[], workers: number): Promise<RunResult> {
  const server = await ServerProcess.start(workers);
  try {
    const baseline = await server.sample();
    // Each session starts at a random point of the clip, so turns do not all end at once.
    const sessions = Array.from({ length: count }, () => new BenchSession(server.url, frames, Math.floor(Math.random() * frames.length)));
    // Connections spread over RAMP_SECONDS, as users arrive, not as one burst.
    const rampStart = performance.now();
    for (const [index, session] of sessions.entries()) {
      const wait = rampStart + (index * RAMP_SECONDS * 1000) / count - performance.now();
      if (wait > 0) await sleep(wait);
      await session.open();
    }
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
    const framesSent = sessions.reduce((sum, session) => sum + session.framesSent, 0);
    const lateFrames = sessions.reduce((sum, session) => sum + session.lateFrames, 0);
    await Promise.all(sessions.map((session) => session.close()));
    return {
      sessions: count,
      cpuPercent: ((end.cpuMicros - start.cpuMicros) / wallMicros) * 100,
      cpuMicrosPerFrame: framesSent === 0 ? Number.NaN : (end.cpuMicros - start.cpuMicros) / framesSent,
      rssPerSessionMb: (end.rssBytes - baseline.rssBytes) / count / (1024 * 1024),
      lateFrameShare: framesSent === 0 ? 0 : lateFrames / framesSent,
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

function parseArgs(argv: string[]): { counts: number[]; runs: number; seconds: number; workers: number } {
  const counts: number[] = [];
  let runs = 3;
  let seconds = 5;
  let workers = 1;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--runs') runs = Number(argv[++i]);
    else if (argv[i] === '--seconds') seconds = Number(argv[++i]);
    else if (argv[i] === '--workers') workers = Number(argv[++i]);
    else if (/^\d+$/.test(argv[i])) counts.push(Number(argv[i]));
  }
  if (!Number.isInteger(workers) || workers < 1) throw new Error('--workers takes a whole number, 1 or more');
  return { counts: counts.length > 0 ? counts : [10, 100, 500], runs, seconds, workers };
}

async function main(): Promise<void> {
  const { counts, runs, seconds, workers } = parseArgs(process.argv.slice(2));
  const frames = await clipFrames();
  const shape = workers === 1 ? 'one server process' : `a primary and ${workers} workers`;
  console.log(
    `realtime sessions (${shape}): ${runs} runs per count, ${seconds} s measured after ${RAMP_SECONDS + WARMUP_SECONDS} s of ramp-up and warm-up; medians over runs`,
  );
  const rows: RunResult[] = [];
  for (const count of counts) {
    const results: RunResult[] = [];
    for (let i = 0; i < runs; i++) results.push(await run(count, seconds, frames, workers));
    const row: RunResult = {
      sessions: count,
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
      `${String(count).padStart(5)} sessions | server CPU ${row.cpuPercent.toFixed(1).padStart(6)} % of a core, ${row.cpuMicrosPerFrame.toFixed(0)} µs per frame per session | RSS ${row.rssPerSessionMb.toFixed(2)} MB/session | ` +
        `late frames ${(row.lateFrameShare * 100).toFixed(2)} % | loop delay p99 ${row.loopDelayP99Ms.toFixed(1)} ms | ` +
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
  const held = rows.filter((row) => row.lateFrameShare < HELD_LATE_SHARE && row.latencyP99Ms <= HELD_LATENCY_P99_MS);
  console.log(
    held.length > 0
      ? `held (< ${HELD_LATE_SHARE * 100} % late frames, p99 added latency ≤ ${HELD_LATENCY_P99_MS} ms): up to ${Math.max(...held.map((row) => row.sessions))} sessions of those tried`
      : `held (< ${HELD_LATE_SHARE * 100} % late frames, p99 added latency ≤ ${HELD_LATENCY_P99_MS} ms): none of the counts tried`,
  );
}

if (process.argv.includes('--server')) await runServer(parseArgs(process.argv.slice(2)).workers);
else await main();
