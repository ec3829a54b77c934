/**
 * POST /tts-proxy on the embedded espeak-ng synthesizer, and forwarded to a TTS upstream
 * (TTS_API_URL) that is a second real speechbridge, or a local server that misbehaves. The
 * audio is decoded back with ffmpeg and, for the default WebM/Opus, transcribed back with
 * pocketsphinx.
 */
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { decodeAudio } from '../../../src/audio/decode.ts';
import { bytesToInt16, durationMs, rmsDbfs } from '../../../src/audio/pcm.ts';
import { createPocketsphinxTranscriber, type PocketsphinxTranscriber } from '../../../src/providers/local/pocketsphinx-transcriber.ts';
import { EspeakSynthesizer } from '../../../src/providers/local/espeak-synthesizer.ts';
import type { RunningServer } from '../../../src/server/app.ts';
import { loadConfig } from '../../../src/server/config.ts';
import { buildSynthesizer } from '../../../src/server/provider-factory.ts';
import { createLogger } from '../../../src/server/logging.ts';
import { startTestServer } from '../../helpers/server.ts';
import { COMMAND_GRAMMAR, requireTool } from '../../helpers/spoken.ts';

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

const closers: Array<() => Promise<void>> = [];
let embedded: RunningServer;
let listener: PocketsphinxTranscriber;

before(async () => {
  await requireTool('ffmpeg', 'apt-get install ffmpeg');
  await requireTool('pocketsphinx_continuous', 'apt-get install pocketsphinx pocketsphinx-en-us');
  embedded = await startTestServer({ synthesizer: await EspeakSynthesizer.create({ timeoutMs: 20_000 }) });
  closers.push(() => embedded.close());
  listener = await createPocketsphinxTranscriber({ grammar: COMMAND_GRAMMAR, timeoutMs: 30_000 });
});

after(async () => {
  for (const close of closers.reverse()) await close();
});

/** A gateway whose synthesizer is built from TTS_API_URL, as `speechbridge serve` builds it. */
async function proxyTo(baseURL: string, timeoutSeconds = '10'): Promise<RunningServer> {
  const config = loadConfig({ TTS_API_URL: baseURL, REQUEST_TIMEOUT: timeoutSeconds });
  const synthesizer = await buildSynthesizer(config, createLogger('silent'));
  assert.equal(synthesizer.name, 'openai-synthesizer');
  const server = await startTestServer({ synthesizer }, { TTS_API_URL: baseURL });
  closers.push(() => server.close());
  return server;
}

async function speak(server: RunningServer, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${server.url}/tts-proxy`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

async function audioOf(response: Response): Promise<Buffer> {
  assert.equal(response.status, 200, response.status === 200 ? '' : await response.text());
  return Buffer.from(await response.arrayBuffer());
}

/** Decoded at 16 kHz: long enough, and not silence. */
async function assertSpeech(bytes: Buffer, what: string) {
  const audio = await decodeAudio(bytes, { sampleRate: 16_000 });
  assert.ok(durationMs(audio) > 500, `${what}: ${durationMs(audio)} ms of audio`);
  assert.ok(rmsDbfs(audio.samples) > -35, `${what}: level ${rmsDbfs(audio.samples).toFixed(1)} dBFS`);
  return audio;
}

async function misbehavingUpstream(handler: (response: ServerResponse) => void): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => handler(res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}

test('by default the speech is Opus in WebM (audio/webm), and it says the words it was given', async () => {
  const response = await speak(embedded, { model: 'tts-1', input: 'turn on the light', voice: 'alloy' });
  assert.equal(response.headers.get('content-type'), 'audio/webm');
  const bytes = await audioOf(response);
  assert.equal(bytes.readUInt32BE(0), 0x1a45dfa3, 'starts with the EBML (Matroska/WebM) magic');
  assert.ok(bytes.includes(Buffer.from('webm')), 'DocType webm');
  assert.ok(bytes.includes(Buffer.from('A_OPUS')), 'the track is Opus');
  const audio = await assertSpeech(bytes, 'webm');
  const heard = await listener.transcribe(audio);
  assert.equal(heard.text, 'turn on the light');
});

test('"ogg" gives Ogg/Opus (audio/ogg); mp3, wav and pcm have their own types and decode to speech', async () => {
  const ogg = await speak(embedded, { input: 'turn off the radio', response_format: 'ogg' });
  assert.equal(ogg.headers.get('content-type'), 'audio/ogg');
  const oggBytes = await audioOf(ogg);
  assert.equal(oggBytes.subarray(0, 4).toString('latin1'), 'OggS');
  await assertSpeech(oggBytes, 'ogg');

  const mp3 = await speak(embedded, { input: 'turn off the radio', response_format: 'mp3' });
  assert.equal(mp3.headers.get('content-type'), 'audio/mpeg');
  await assertSpeech(await audioOf(mp3), 'mp3');

  const wav = await speak(embedded, { input: 'turn off the radio', response_format: 'wav' });
  assert.equal(wav.headers.get('content-type'), 'audio/wav');
  const wavBytes = await audioOf(wav);
  assert.equal(wavBytes.subarray(0, 4).toString('latin1'), 'RIFF');
  await assertSpeech(wavBytes, 'wav');

  const pcm = await speak(embedded, { input: 'turn off the radio', response_format: 'pcm' });
  assert.equal(pcm.headers.get('content-type'), 'audio/pcm');
  const pcmBytes = await audioOf(pcm);
  assert.equal(pcmBytes.length % 2, 0);
  const samples = bytesToInt16(pcmBytes);
  // 24 kHz PCM16 mono, OpenAI's raw format.
  assert.ok(samples.length / 24_000 > 0.5, `${samples.length} samples`);
  assert.ok(rmsDbfs(samples) > -35);
});

test('bad input gets a 4xx naming the problem', async () => {
  const cases: Array<[Record<string, unknown> | string, number, string, string | null, RegExp]> = [
    [{ input: '   ' }, 400, 'empty_input', 'input', /input is empty/],
    [{ voice: 'alloy' }, 400, 'invalid_value', 'input', /input is required/],
    [
      { input: 'hello', response_format: 'xyz' },
      400,
      'unsupported_format',
      'response_format',
      /unknown response_format "xyz"; expected one of opus, webm, ogg/,
    ],
    [{ input: 'hello', voice: 'no-such-voice' }, 400, 'unknown_voice', 'voice', /no-such-voice/],
    ['{"input": "hel', 400, 'invalid_json', null, /not valid JSON/],
  ];
  for (const [body, status, code, param, message] of cases) {
    const response = await fetch(`${embedded.url}/tts-proxy`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const error = (await response.json()) as ErrorBody;
    assert.equal(response.status, status, JSON.stringify(error));
    assert.equal(error.error.code, code);
    assert.equal(error.error.param, param);
    assert.equal(error.error.type, 'invalid_request_error');
    assert.match(error.error.message, message);
  }
  const form = await fetch(`${embedded.url}/tts-proxy`, { method: 'POST', body: new URLSearchParams({ input: 'hello' }) });
  assert.equal(form.status, 415);
  assert.equal(((await form.json()) as ErrorBody).error.code, 'invalid_content_type');
});

test('with TTS_API_URL set to another speechbridge, the request is forwarded and its audio comes back', async () => {
  const gateway = await proxyTo(`${embedded.url}/v1`);
  const forwardedBefore = await speechRequestsServed(embedded);
  const response = await speak(gateway, { model: 'tts-1', input: 'turn on the heater', voice: 'alloy' });
  assert.equal(response.headers.get('content-type'), 'audio/webm');
  const audio = await assertSpeech(await audioOf(response), 'forwarded webm');
  assert.equal((await listener.transcribe(audio)).text, 'turn on the heater');
  assert.equal(await speechRequestsServed(embedded), forwardedBefore + 1, 'the upstream served one /v1/audio/speech request');

  // The upstream's refusal of a voice comes back as the same 400.
  const refused = await speak(gateway, { input: 'hello', voice: 'no-such-voice' });
  assert.equal(refused.status, 400);
  assert.equal(((await refused.json()) as ErrorBody).error.code, 'unknown_voice');
});

test('an upstream that fails gets a clear 5xx body', async () => {
  const failing = await proxyTo(
    await misbehavingUpstream((res) => {
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'synthesis backend crashed' } }));
    }),
  );
  const crashed = await speak(failing, { input: 'hello there' });
  assert.equal(crashed.status, 502);
  const crashBody = (await crashed.json()) as ErrorBody;
  assert.equal(crashBody.error.type, 'server_error');
  assert.equal(crashBody.error.code, 'upstream_error');
  assert.match(crashBody.error.message, /answered HTTP 500 to speech: synthesis backend crashed/);

  const garbage = await proxyTo(
    await misbehavingUpstream((res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Welcome to nginx!</body></html>');
    }),
  );
  const confused = await speak(garbage, { input: 'hello there' });
  assert.equal(confused.status, 502);
  const confusedBody = (await confused.json()) as ErrorBody;
  assert.equal(confusedBody.error.code, 'upstream_bad_response');
  assert.match(confusedBody.error.message, /expected raw PCM audio, got text\/html/);

  const silent = await proxyTo(
    await misbehavingUpstream(() => {
      // Never answers: REQUEST_TIMEOUT (1 s here) ends the wait.
    }),
    '1',
  );
  const timedOut = await speak(silent, { input: 'hello there' });
  assert.equal(timedOut.status, 504);
  assert.equal(((await timedOut.json()) as ErrorBody).error.code, 'upstream_timeout');
});

test('an upstream nobody listens on gets 503 upstream_unreachable', async () => {
  const url = await misbehavingUpstream(() => {});
  await closers.pop()!();
  const gateway = await proxyTo(url);
  const response = await speak(gateway, { input: 'hello there' });
  assert.equal(response.status, 503);
  const body = (await response.json()) as ErrorBody;
  assert.equal(body.error.code, 'upstream_unreachable');
  assert.match(body.error.message, /could not reach http:\/\/127\.0\.0\.1:\d+\/v1 for speech: ECONNREFUSED/);
});

/** /v1/audio/speech requests a server answered with 200, from its /metrics. */
async function speechRequestsServed(server: RunningServer): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text
    .split('\n')
    .find((row) => row.startsWith('speechbridge_http_requests_total{') && row.includes('route="/v1/audio/speech"') && row.includes('status="200"'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}
