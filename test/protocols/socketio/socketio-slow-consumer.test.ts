/**
 * A Socket.IO client that stops reading: socket.io-client over the WebSocket transport whose
 * TCP socket is paused, while the server streams a long spoken answer to it. The session is
 * closed as a slow consumer (once: closing it must not re-enter the backlog check through the
 * error it sends), the server goes on, and a second session on the same server is answered.
 */
import assert from 'node:assert/strict';
import type { Socket as NetSocket } from 'node:net';
import { after, before, test } from 'node:test';
import { EchoResponder } from '../../../src/providers/local/echo-responder.ts';
import { ScriptedSynthesizer } from '../../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../../src/providers/testing/scripted-transcriber.ts';
import type { RunningServer } from '../../../src/server/app.ts';
import { startTestServer } from '../../helpers/server.ts';
import { chunks, RealtimeSocket } from './socketio-harness.ts';
import type { PcmAudio } from '../../../src/audio/pcm.ts';

/**
 * 1,500 characters at the scripted synthesizer's 60 ms a character: 90 s of 24 kHz audio, 4.3
 * MB of PCM and 5.8 MB of base64 `audio` messages, more than loopback's socket buffers hold.
 */
const LONG_ANSWER = Array.from({ length: 150 }, () => 'turn it on').join(' ');

let server: RunningServer;

before(async () => {
  server = await startTestServer(
    { transcriber: new ScriptedTranscriber({ texts: LONG_ANSWER }), responder: new EchoResponder(), synthesizer: new ScriptedSynthesizer({ hopMs: 100 }) },
    { REALTIME_MAX_BUFFERED_KB: '64', REALTIME_SLOW_CONSUMER_SECONDS: '0.5' },
  );
});

after(async () => {
  await server?.close();
});

function tone(ms: number): PcmAudio {
  const samples = new Int16Array((24000 * ms) / 1000);
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * 300 * i) / 24000));
  return { samples, sampleRate: 24000 };
}

/** The TCP socket under socket.io-client's WebSocket transport. */
function tcpSocketOf(client: RealtimeSocket): NetSocket {
  const transport = (client.socket.io.engine as unknown as { transport: { name: string; ws?: { _socket?: NetSocket } } }).transport;
  assert.equal(transport.name, 'websocket');
  const tcp = transport.ws?._socket;
  assert.ok(tcp, 'socket.io-client exposes the TCP socket of its WebSocket transport');
  return tcp;
}

async function activeSessions(): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((row) => row.startsWith('speechbridge_sessions_active{door="socketio"}'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

test('a Socket.IO client that stops reading is closed as a slow consumer, and the server goes on serving', async () => {
  const bystander = await RealtimeSocket.connect(server.url, { transports: ['websocket'] });
  await bystander.next('connected');
  bystander.emit('update_session', { session: { turn_detection: null } });

  const reader = await RealtimeSocket.connect(server.url, { transports: ['websocket'] });
  await reader.next('connected');
  reader.emit('update_session', { session: { turn_detection: null } });
  const disconnected = new Promise<string>((resolve) => reader.socket.once('disconnect', (reason) => resolve(reason)));
  // The answer starts streaming; then the client stops reading.
  reader.sendAudio(chunks(tone(500)), true);
  await reader.next('audio', 10_000);
  const tcp = tcpSocketOf(reader);
  tcp.pause();

  // The server closes the session (it drops the connection once the close cannot get through).
  const deadline = Date.now() + 15_000;
  while ((await activeSessions()) > 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(await activeSessions(), 1, 'only the bystander session is left');
  tcp.resume();
  assert.match(await disconnected, /transport close|io server disconnect/);

  // The same server answers another session.
  bystander.sendAudio(chunks(tone(500)), true);
  assert.equal((await bystander.next('transcript_final')).content, LONG_ANSWER);
  await bystander.next('audio', 10_000);
  bystander.close();
});
