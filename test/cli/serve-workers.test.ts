/**
 * `speechbridge serve --workers 2` as a user runs it: one port, two worker processes behind
 * the primary. Real clients on real sockets: /v1/realtime sessions spread over both workers
 * and /metrics (whichever worker answers) counts all of them; a client secret minted through
 * one worker opens sessions on both; Socket.IO with polling only and
 * with polling upgraded to WebSocket completes a turn (its requests reach the worker that
 * holds the session); a large upload goes through, a request that waits in the primary for
 * its worker keeps the body sent meanwhile, and an over-limit one is refused before
 * its body is sent; a killed worker's clients see their connection close at once, the others
 * go on, a replacement starts and takes new sessions; SIGTERM ends every session with 1001,
 * stops every worker and exits 0. Real engines (pocketsphinx, echo, espeak-ng).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request, type ClientRequest } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { pcmFrames, RealtimeClient, recording } from '../e2e/realtime-harness.ts';
import { metricSamples, sessionsByPid } from '../helpers/metric-samples.ts';
import { sharedAudioPath } from '../helpers/shared.ts';
import { requireTool } from '../helpers/spoken.ts';
import { RealtimeSocket, type ClientOptions } from '../protocols/socketio/socketio-harness.ts';
import { startServe, type LogLine, type ServeProcess } from './serve-process.ts';

const run = promisify(execFile);
const MANUAL = { session: { turn_detection: null } };
/** Worker start-up loads the engines: seconds on a quiet machine, more on a busy one. */
const START_MS = 180_000;

let serve: ServeProcess;
let url: string;
let workDir: string;

before(async () => {
  await requireTool('pocketsphinx_continuous', 'apt-get install pocketsphinx pocketsphinx-en-us');
  await requireTool('ffmpeg', 'apt-get install ffmpeg');
  workDir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-workers-test-'));
  // A busy machine makes pocketsphinx slow: the time limit is not what these tests are about.
  serve = startServe(['--port', '0', '--workers', '2', '--asr', 'pocketsphinx', '--max-upload-mb', '3'], { REQUEST_TIMEOUT: '120' });
  await serve.waitForLine((line) => /worker processes serve the port/.test(line.msg), START_MS);
  url = String(serve.lines().find(listening)!.url);
});

after(async () => {
  if (serve) await serve.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const listening = (line: LogLine) => line.msg.startsWith('speechbridge listening on ');
const wsUrl = () => `${url.replace(/^http/, 'ws')}/v1/realtime`;

async function openSessions(count: number): Promise<RealtimeClient[]> {
  const clients = await Promise.all(Array.from({ length: count }, () => RealtimeClient.connect(wsUrl())));
  await Promise.all(clients.map((client) => client.next('session.created', 30_000)));
  return clients;
}

/**
 * A POST whose body `send` writes as it likes (part of it, or late); resolves with the answer
 * once it has fully arrived (the request is then dropped, whatever it had left to send), and
 * fails when none comes within 60 s.
 */
function rawPost(target: string, headers: Record<string, string>, send: (outgoing: ClientRequest) => void): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const outgoing = request({ hostname, port, method: 'POST', path: target, headers, timeout: 60_000 });
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer to POST ${target} within 60 s`)));
    outgoing.on('response', (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (text: string) => (body += text));
      response.on('end', () => {
        outgoing.destroy();
        resolve({ status: response.statusCode ?? 0, body });
      });
    });
    outgoing.on('error', reject);
    send(outgoing);
  });
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('start-up: the engines, the address and the worker count are said once', () => {
  const lines = serve.lines();
  assert.equal(lines.filter((line) => line.msg.startsWith('engines: ')).length, 1, serve.stderr());
  assert.equal(lines.filter(listening).length, 1);
  const count = lines.filter((line) => /worker processes serve the port/.test(line.msg));
  assert.equal(count.length, 1);
  assert.equal(count[0].msg, '2 worker processes serve the port (WORKERS or --workers to change)');
  assert.equal((count[0].pids as number[]).length, 2);
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
});

test('realtime sessions spread over both workers, and /metrics from any worker counts them all', async () => {
  const clients = await openSessions(8);
  try {
    const byPid = await sessionsByPid(url);
    const pids = (serve.lines().find((line) => /worker processes/.test(line.msg))!.pids as number[]).sort();
    assert.deepEqual([...byPid.keys()].sort(), pids, 'each worker reports its own sessions');
    for (const [pid, sessions] of byPid) assert.ok(sessions > 0, `worker ${pid} holds sessions: ${JSON.stringify([...byPid])}`);
    assert.equal(
      [...byPid.values()].reduce((sum, value) => sum + value, 0),
      8,
    );
    // Each /metrics request is a new connection, handed to either worker: every answer is the whole server's.
    for (let i = 0; i < 4; i++) {
      const samples = await metricSamples(url);
      assert.equal(samples.get('speechbridge_sessions_active{door="realtime"}'), 8);
      assert.equal(samples.get('speechbridge_workers'), 2);
    }
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
});

test('a client secret minted through one worker opens sessions on every worker (they share its key)', async () => {
  const response = await fetch(`${url}/v1/realtime/client_secrets`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ session: { type: 'realtime', instructions: 'Minted once.' } }),
  });
  assert.equal(response.status, 200);
  const secret = ((await response.json()) as { value: string }).value;
  assert.match(secret, /^ek_/);
  // Round-robin hands these to both workers; a secret is checked even on an open server.
  const clients = await Promise.all(
    Array.from({ length: 6 }, () => RealtimeClient.connect(wsUrl(), { protocols: ['realtime', `openai-insecure-api-key.${secret}`] })),
  );
  try {
    for (const client of clients) assert.equal((await client.next('session.created', 30_000)).session.instructions, 'Minted once.');
    const byPid = await sessionsByPid(url);
    assert.equal([...byPid.values()].filter((sessions) => sessions > 0).length, 2, `sessions on both workers: ${JSON.stringify([...byPid])}`);
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
});

test('Socket.IO completes a turn through the workers, with polling only and with polling upgraded to WebSocket', async () => {
  const frames = pcmFrames(await recording('en_one_two_three.wav'));
  const cases: Array<[string, ClientOptions, string]> = [
    ['polling', { transports: ['polling'], upgrade: false }, 'polling'],
    ['polling', { transports: ['polling'], upgrade: false }, 'polling'],
    ['upgrade', { transports: ['polling', 'websocket'] }, 'websocket'],
    ['upgrade', { transports: ['polling', 'websocket'] }, 'websocket'],
  ];
  // Side by side, so the sessions sit on both workers and each client's polls must find its own.
  await Promise.all(
    cases.map(async ([label, options, transport]) => {
      const client = await RealtimeSocket.connect(url, { ...options, timeout: 30_000 });
      try {
        await client.next('connected', 30_000);
        client.emit('update_session', MANUAL);
        client.sendAudio(frames);
        client.emit('commit');
        await client.next('turn_done', 90_000);
        if (transport === 'websocket' && client.socket.io.engine.transport.name !== 'websocket') {
          await new Promise((resolve) => client.socket.io.engine.once('upgrade', resolve));
        }
        assert.equal(client.socket.io.engine.transport.name, transport, label);
        assert.ok(client.ofType('transcript_final').length === 1, `${label}: ${client.types().join(', ')}`);
        assert.ok(client.ofType('audio').length > 0, `${label}: the answer was spoken`);
        assert.equal(client.ofType('error').length, 0, `${label}: ${JSON.stringify(client.ofType('error'))}`);
      } finally {
        client.close();
      }
    }),
  );
});

test('a large upload goes through a worker whole; one over the limit is refused before its body is sent', async () => {
  // 2.7 s of speech as 192 kHz stereo: 2 MB (many TCP reads after the one the primary looks
  // at) and little to transcribe.
  const large = path.join(workDir, 'large.wav');
  await run('ffmpeg', ['-v', 'error', '-y', '-i', sharedAudioPath('en_one_two_three.wav'), '-ar', '192000', '-ac', '2', '-c:a', 'pcm_s16le', large]);
  const bytes = await readFile(large);
  assert.ok(bytes.length > 2_000_000);
  for (const route of ['/v1/audio/transcriptions', '/upload']) {
    const form = new FormData();
    form.append('file', new Blob([bytes], { type: 'audio/wav' }), 'large.wav');
    form.append('model', 'whisper-1');
    const response = await fetch(`${url}${route}`, { method: 'POST', body: form });
    const body = (await response.json()) as { text?: string; transcription?: string };
    assert.equal(response.status, 200, `${route}: ${JSON.stringify(body)}`);
    assert.ok((body.text ?? body.transcription ?? '').trim().length > 0, `${route}: ${JSON.stringify(body)}`);
  }

  // 10 MB announced, 64 KB sent: the answer comes while the client still holds the rest.
  const refused = await rawPost(
    '/v1/audio/transcriptions',
    { 'content-type': 'multipart/form-data; boundary=x', 'content-length': String(10 * 1024 * 1024) },
    (outgoing) => outgoing.write(Buffer.alloc(64 * 1024)),
  );
  assert.equal(refused.status, 413);
  assert.equal((JSON.parse(refused.body) as { error: { code: string } }).error.code, 'payload_too_large');
});

test('a request that waits in the primary for its worker loses none of the body sent meanwhile', async () => {
  // A request line naming a session no worker has reported waits up to 3 s in the primary
  // (as a Socket.IO poll does when it overtakes its worker's report). The headers go first and
  // the body while it waits: the body must reach the worker that answers, not the primary.
  const form = new FormData();
  form.append('file', new Blob([await readFile(sharedAudioPath('en_one_two_three.wav'))], { type: 'audio/wav' }), 'speech.wav');
  form.append('model', 'whisper-1');
  const encoded = new Request(url, { method: 'POST', body: form });
  const body = Buffer.from(await encoded.arrayBuffer());
  const headers = { 'content-type': encoded.headers.get('content-type')!, 'content-length': String(body.length) };
  const answer = await rawPost('/v1/audio/transcriptions?sid=AAAAAAAAAAAAAAAAAAAA', headers, (outgoing) => {
    outgoing.flushHeaders();
    setTimeout(() => outgoing.end(body), 500);
  });
  assert.equal(answer.status, 200, answer.body);
  assert.match((JSON.parse(answer.body) as { text: string }).text, /\w/, answer.body);
});

test("a killed worker's clients see their connection close, the others go on, and a replacement takes new sessions", async () => {
  const clients = await openSessions(6);
  try {
    const byPid = await sessionsByPid(url);
    const [victim, victimSessions] = [...byPid].find(([, sessions]) => sessions > 0)!;
    process.kill(victim, 'SIGKILL');

    // Its clients' sockets close at once (the kernel ends them with the process): no hang.
    const closedClients = () => clients.filter((client) => client.socket.readyState === client.socket.CLOSED);
    const deadline = Date.now() + 10_000;
    while (closedClients().length < victimSessions && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    // A moment more, to see that no other session closes with them.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const closedOnes = closedClients();
    assert.equal(closedOnes.length, victimSessions, 'exactly the killed worker’s clients closed');
    for (const client of closedOnes) assert.equal((await client.closed).code, 1006);

    // The other worker's sessions still answer.
    const survivors = clients.filter((client) => !closedOnes.includes(client));
    assert.ok(survivors.length > 0);
    for (const client of survivors) {
      const from = client.events.length;
      client.send({ type: 'session.update', session: { type: 'realtime', instructions: 'still here' } });
      const updated = await client.next('session.updated', 10_000, from);
      assert.equal(updated.session.instructions, 'still here');
    }

    const replaced = await serve.waitForLine((line) => new RegExp(`worker \\d+ \\(pid ${victim}\\) exited \\(SIGKILL\\)`).test(line.msg), 10_000);
    assert.equal(replaced.level, 40);
    const ready = await serve.waitForLine((line) => /^worker \d+ \(pid \d+\) is ready$/.test(line.msg), START_MS);
    const newPid = Number(ready.pid);
    assert.ok(isRunning(newPid));

    const fresh = await openSessions(4);
    try {
      const after = await sessionsByPid(url);
      assert.equal(after.has(victim), false, 'the killed worker is gone from /metrics');
      assert.ok((after.get(newPid) ?? 0) > 0, `the replacement takes new sessions: ${JSON.stringify([...after])}`);
      const samples = await metricSamples(url);
      assert.equal(samples.get('speechbridge_workers'), 2);
      assert.equal(samples.get('speechbridge_worker_restarts_total'), 1);
      assert.equal(samples.get('speechbridge_sessions_active{door="realtime"}'), survivors.length + fresh.length);
    } finally {
      await Promise.all(fresh.map((client) => client.close()));
    }
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
});

test('SIGTERM on the primary ends every session with 1001, stops every worker and exits 0', async () => {
  const clients = await openSessions(4);
  const byPid = await sessionsByPid(url);
  assert.equal(byPid.size, 2);
  const code = await serve.stop();
  assert.equal(code, 0, serve.stderr());
  for (const client of clients) assert.equal((await client.closed).code, 1001);
  for (const pid of byPid.keys()) assert.equal(isRunning(pid), false, `worker ${pid} exited`);
  assert.equal(serve.lines().filter((line) => line.msg === 'shutting down').length, 1);
});
