/**
 * GET /metrics counts every door's sessions: one session open on each door shows as one
 * active session per door label, a gateway turn records its stage timings and its response,
 * and the gauges go back to zero when the clients leave.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';
import { resample } from '../../src/audio/resample.ts';
import { readWav } from '../../src/audio/wav.ts';
import { int16ToBytes } from '../../src/audio/pcm.ts';
import { readFileSync } from 'node:fs';
import type { RunningServer } from '../../src/server/app.ts';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';
import { sharedAudioPath } from '../helpers/shared.ts';
import { startTestServer } from '../helpers/server.ts';

let server: RunningServer;

before(async () => {
  server = await startTestServer({ transcriber: new ScriptedTranscriber({ texts: 'turn on the light' }) });
});

after(async () => {
  await server?.close();
});

async function metricsText(): Promise<string> {
  return (await fetch(`${server.url}/metrics`)).text();
}

function gauge(text: string, door: string): number {
  const match = new RegExp(`^speechbridge_sessions_active\\{door="${door}"\\} (\\d+)`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline)
      assert.fail(
        `${what} did not happen within 10 s; metrics:\n${(await metricsText())
          .split('\n')
          .filter((line) => line.includes('door='))
          .join('\n')}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Opens a WebSocket and waits for its first message (each door sends one once its session is up). */
async function openSocket(path: string, first?: Record<string, unknown>): Promise<{ socket: WebSocket; messages: string[] }> {
  const socket = new WebSocket(`${server.url.replace(/^http/, 'ws')}${path}`);
  const messages: string[] = [];
  socket.on('message', (data, isBinary) => {
    if (!isBinary) messages.push(data.toString());
  });
  await once(socket, 'open');
  if (first) socket.send(JSON.stringify(first));
  while (messages.length === 0) await once(socket, 'message');
  return { socket, messages };
}

test('each door’s sessions are counted under its label, a turn records its stages, and leaving brings the gauges to zero', async () => {
  const realtime = await openSocket('/v1/realtime');
  const transcriptions = await openSocket('/v1/transcriptions', { action: 'start' });
  const gateway = await openSocket('/', { type: 'start' });
  const socketio: Socket = io(`${server.url}/realtime`, { transports: ['websocket'] });
  await new Promise<void>((resolve) => socketio.once('message', () => resolve()));

  const open = await metricsText();
  for (const door of ['realtime', 'transcriptions', 'gateway', 'socketio']) assert.equal(gauge(open, door), 1, `one ${door} session open`);

  // A spoken turn on the gateway: real speech, the real VAD, scripted providers.
  const clip = readWav(readFileSync(sharedAudioPath('en_harvard_birch_canoe.wav')));
  const speech = await resample(clip, 24000);
  gateway.socket.send(int16ToBytes(speech.samples));
  gateway.socket.send(Buffer.alloc(24000 * 2));
  gateway.socket.send(JSON.stringify({ type: 'end' }));
  await once(gateway.socket, 'close');
  assert.ok(
    gateway.messages.some((message) => message.includes('"tts_end"')),
    `the gateway turn finished: ${gateway.messages.join(' ')}`,
  );
  const afterTurn = await metricsText();
  assert.match(afterTurn, /speechbridge_turn_stage_seconds_count\{door="gateway",stage="transcription"\} 1/);
  assert.match(afterTurn, /speechbridge_responses_total\{door="gateway",status="completed"\} 1/);

  realtime.socket.close();
  transcriptions.socket.close();
  socketio.close();
  await until(async () => {
    const text = await metricsText();
    return ['realtime', 'transcriptions', 'gateway', 'socketio'].every((door) => gauge(text, door) === 0);
  }, 'every gauge back to zero');
});
