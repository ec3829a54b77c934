/**
 * `speechbridge serve --workers 2` with MAX_EVENT_LOOP_UTILIZATION, as a user runs it: a worker
 * over capacity tells the primary, which hands new connections to the other worker. The load
 * is real: one client floods its session (on one worker) with 20 ms appends as fast as the
 * socket takes them, keeping that worker's event loop busier than the limit of 50 %. Meanwhile
 * every new session opens, all of them on the other worker, and none is refused. Real engines
 * (pocketsphinx, echo, espeak-ng).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { encodeBase64Audio } from '../../src/audio/base64.ts';
import { RealtimeClient } from '../e2e/realtime-harness.ts';
import { eventually } from '../helpers/eventually.ts';
import { metricSamples, sessionsByPid } from '../helpers/metric-samples.ts';
import { requireTool } from '../helpers/spoken.ts';
import { startServe, type ServeProcess } from './serve-process.ts';

/** Worker start-up loads the engines: seconds on a quiet machine, more on a busy one. */
const START_MS = 180_000;
/** What the flooding client keeps queued on its socket: enough that the worker never waits for it. */
const FLOOD_BUFFER_BYTES = 1024 * 1024;

let serve: ServeProcess;
let url: string;

before(async () => {
  await requireTool('pocketsphinx_continuous', 'apt-get install pocketsphinx pocketsphinx-en-us');
  serve = startServe(['--port', '0', '--workers', '2', '--asr', 'pocketsphinx'], { MAX_EVENT_LOOP_UTILIZATION: '0.5' });
  await serve.waitForLine((line) => /worker processes serve the port/.test(line.msg), START_MS);
  url = String(serve.lines().find((line) => line.msg.startsWith('speechbridge listening on '))!.url);
});

after(async () => {
  if (serve) await serve.stop();
});

const wsUrl = () => `${url.replace(/^http/, 'ws')}/v1/realtime`;

/** Sends 20 ms appends of low noise on `socket` for as long as it is open, without starving this process. */
function flood(socket: WebSocket): { stop(): void } {
  const noise = Int16Array.from({ length: 480 }, (_, i) => ((i * 7919) % 64) - 32);
  const frame = JSON.stringify({ type: 'input_audio_buffer.append', audio: encodeBase64Audio(noise, 'pcm16') });
  let stopped = false;
  const pump = () => {
    if (stopped || socket.readyState !== WebSocket.OPEN) return;
    for (let i = 0; i < 200 && socket.bufferedAmount < FLOOD_BUFFER_BYTES; i++) socket.send(frame);
    setImmediate(pump);
  };
  pump();
  return { stop: () => (stopped = true) };
}

test('a worker over capacity gets no new connection while the other has room: every new session opens, on the other worker', async () => {
  const flooder = new WebSocket(wsUrl());
  await once(flooder, 'open');
  const busyPid = await eventually('the flooding session counted on its worker', async () => {
    const byPid = await sessionsByPid(url);
    return [...byPid].find(([, sessions]) => sessions === 1)?.[0];
  });
  const load = flood(flooder);
  const clients: RealtimeClient[] = [];
  try {
    const utilization = await eventually(
      'the flooded worker over capacity',
      async () => {
        const value = (await metricSamples(url)).get('speechbridge_event_loop_utilization') ?? 0;
        return value >= 0.5 ? value : undefined;
      },
      30_000,
      250,
    );
    assert.ok(utilization >= 0.5);
    for (let i = 0; i < 6; i++) {
      const client = await RealtimeClient.connect(wsUrl());
      clients.push(client);
      await client.next('session.created', 30_000);
    }
    const byPid = await sessionsByPid(url);
    const [idlePid] = [...byPid.keys()].filter((pid) => pid !== busyPid);
    assert.equal(byPid.get(idlePid), 6, `all six new sessions on the worker with room: ${JSON.stringify([...byPid])}`);
    assert.equal(byPid.get(busyPid), 1, 'the flooded worker holds only the flooding session');
    const samples = await metricSamples(url);
    assert.equal(samples.get('speechbridge_sessions_refused_total{reason="over_capacity"}') ?? 0, 0, 'no session was refused');
  } finally {
    load.stop();
    flooder.close();
    await Promise.all(clients.map((client) => client.close()));
  }
});
