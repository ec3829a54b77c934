/**
 * The gateway's doors used the way browser apps use them, from a real browser: Debian's
 * Chromium driven by playwright-core, its microphone a WAV file made now (espeak-ng speaking a
 * command phrase between silences; each getUserMedia stream plays it from its start). The
 * client code runs in a page of the gateway's own origin (its JSON health check at `/`), or
 * of another origin for CORS, against the real server on real engines: WebRTC VAD,
 * pocketsphinx with a JSGF grammar, espeak-ng and the echo responder.
 *
 * - MediaRecorder chunks (WebM/Opus; Safari's fragmented MP4, push-to-talk) and AudioWorklet
 *   PCM16 streamed to /v1/transcriptions, the token as a subprotocol.
 * - Recorded Blobs posted with fetch + FormData to /v1/audio/transcriptions and /upload.
 * - /v1/audio/speech and /tts-proxy audio decoded by the browser's own decoders, played
 *   through MediaSource as it streams, and stopped mid-stream.
 * - The gateway protocol on `/` with binary PCM16 frames from a decoded WAV.
 * - Another origin: a preflighted fetch with an Authorization header (CORS, CORS_ORIGINS) and
 *   the Socket.IO client's long-polling start.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { EchoResponder } from '../../src/providers/local/echo-responder.ts';
import { EspeakSynthesizer } from '../../src/providers/local/espeak-synthesizer.ts';
import { createPocketsphinxTranscriber, type PocketsphinxTranscriber } from '../../src/providers/local/pocketsphinx-transcriber.ts';
import { assembleProviders, startTestServer, type TestServer } from '../helpers/server.ts';
import { repoRoot } from '../helpers/shared.ts';
import { COMMAND_GRAMMAR, speakPhrase } from '../helpers/spoken.ts';
import { launchChromium, microphoneFile, requireBrowserTools } from './browser-harness.ts';

const TOKEN = 'browser-clients-token';
const PHRASE = 'turn on the light';
/** Where the page fetches the phrase as a WAV file (answered by the test through page.route). */
const PHRASE_WAV_PATH = '/test-fixtures/phrase.wav';
/**
 * The microphone as speech apps ask for it, without the browser's processing: Chromium's
 * automatic gain control, not yet settled on a new stream, sometimes clips the first phrase
 * past what pocketsphinx's grammar search recognizes.
 */
const RAW_CAPTURE: MediaTrackConstraints = { autoGainControl: false, noiseSuppression: false, echoCancellation: false };
/** The browser build of the socket.io client, as a page would load it. */
const SOCKET_IO_CLIENT = path.join(repoRoot, 'node_modules', 'socket.io-client', 'dist', 'socket.io.min.js');

let workDir: string;
let phraseWav: Buffer;
let transcriber: PocketsphinxTranscriber;
let synthesizer: EspeakSynthesizer;
let browser: Browser;
/** No API_TOKENS. */
let openServer: TestServer;
/** API_TOKENS set. */
let tokenServer: TestServer;
/** Another origin: serves one empty HTML page. */
let otherOrigin: Server;
let otherOriginUrl: string;

before(async () => {
  await requireBrowserTools();
  workDir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-browser-clients-'));
  // The phrase at espeak-ng's own speed (175 words a minute, about 1.1 s) from 0.5 s on:
  // pocketsphinx's grammar search recognizes it after Chromium's capture and Opus alike.
  const microphone = await microphoneFile(workDir, PHRASE, { beforeSeconds: 0.5, afterSeconds: 3.5 });
  const phrase = await speakPhrase(PHRASE);
  phraseWav = phrase.bytes;
  await rm(path.dirname(phrase.file), { recursive: true, force: true });
  transcriber = await createPocketsphinxTranscriber({ grammar: COMMAND_GRAMMAR, timeoutMs: 20_000 });
  synthesizer = await EspeakSynthesizer.create({ workers: 1 });
  const engines = () => assembleProviders({ transcriber, responder: new EchoResponder(), synthesizer });
  openServer = await startTestServer(engines());
  tokenServer = await startTestServer(engines(), { API_TOKENS: TOKEN });
  otherOrigin = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end('<!doctype html><title>another app</title><p>another app</p>');
  });
  await new Promise<void>((resolve) => otherOrigin.listen(0, '127.0.0.1', resolve));
  otherOriginUrl = `http://127.0.0.1:${(otherOrigin.address() as AddressInfo).port}`;
  browser = await launchChromium(microphone);
});

after(async () => {
  await browser?.close();
  await openServer?.close();
  await tokenServer?.close();
  await synthesizer?.close();
  if (otherOrigin) await new Promise((resolve) => otherOrigin.close(resolve));
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

interface OpenedPage {
  page: Page;
  /** Uncaught page errors. */
  errors: string[];
  /** Every request the page made: method and URL. */
  requests: string[];
}

/** A page of `origin` (its `/`), where the test's client code runs; the phrase WAV is served at PHRASE_WAV_PATH. */
async function openPage(origin: string): Promise<OpenedPage> {
  const context = await browser.newContext();
  // tsx compiles this file with esbuild's keepNames, which wraps named functions inside the
  // page functions in a `__name(fn, "name")` call; the page has no such helper of its own.
  await context.addInitScript('globalThis.__name = (target) => target;');
  const page = await context.newPage();
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('request', (request) => requests.push(`${request.method()} ${request.url()}`));
  await page.route(`${origin}${PHRASE_WAV_PATH}`, (route) => route.fulfill({ status: 200, contentType: 'audio/wav', body: phraseWav }));
  const response = await page.goto(`${origin}/`);
  assert.equal(response?.status(), 200);
  return { page, errors, requests };
}

// ── /v1/transcriptions ────────────────────────────────────────────────────────────────────

interface StreamResult {
  messages: Array<Record<string, unknown>>;
  protocol: string;
  /** Chunks sent per recording. */
  chunksSent: number[];
  mimeType: string;
  close: { code: number; reason: string; wasClean: boolean };
}

/**
 * What a dictation app does: a WebSocket, `{"action":"start"}`, then per recording (a press of
 * push-to-talk) getUserMedia and a MediaRecorder whose 250 ms chunks go out as binary messages
 * until the phrase is final; the recorder stops, its last chunk is sent, the microphone is
 * released. After the last recording `{"action":"stop"}` ends the session.
 */
function streamMicrophone(page: Page, options: { url: string; protocols: string[]; mimeType: string; recordings: number }): Promise<StreamResult> {
  return page.evaluate(
    async ({ url, protocols, mimeType, recordings, phrase, constraints }) => {
      const socket = new WebSocket(url, protocols);
      const messages: Array<Record<string, unknown>> = [];
      const finalsWaiting: Array<() => void> = [];
      let sessionStarted: () => void = () => {};
      const started = new Promise<void>((resolve) => (sessionStarted = resolve));
      socket.onmessage = (event) => {
        const message = JSON.parse(event.data as string) as Record<string, unknown>;
        messages.push(message);
        if ('session_id' in message) sessionStarted();
        if (message.final === phrase) finalsWaiting.shift()?.();
      };
      const closed = new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve) => {
        socket.onclose = (event) => resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean });
      });
      await new Promise<void>((resolve, reject) => {
        socket.onopen = () => resolve();
        socket.onerror = () => reject(new Error(`the WebSocket to ${url} failed to open`));
      });
      socket.send(JSON.stringify({ action: 'start' }));
      await started;

      const chunksSent: number[] = [];
      let recordedType = '';
      for (let recording = 0; recording < recordings; recording++) {
        // A new stream plays the fake microphone's file from its start: the phrase comes at 0.5 s.
        const stream = await navigator.mediaDevices.getUserMedia({ audio: constraints });
        const recorder = new MediaRecorder(stream, { mimeType });
        recordedType = recorder.mimeType;
        chunksSent.push(0);
        recorder.ondataavailable = (event) => {
          if (event.data.size === 0 || socket.readyState !== WebSocket.OPEN) return;
          socket.send(event.data);
          chunksSent[recording]++;
        };
        const stopped = new Promise((resolve) => (recorder.onstop = resolve));
        const heard = new Promise<void>((resolve) => finalsWaiting.push(resolve));
        recorder.start(250);
        await Promise.race([heard, closed, new Promise((resolve) => setTimeout(resolve, 15_000))]);
        recorder.stop();
        await stopped;
        stream.getTracks().forEach((track) => track.stop());
      }
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ action: 'stop' }));
      const noClose = { code: -1, reason: 'no close within 15 s', wasClean: false };
      const close = await Promise.race([closed, new Promise<typeof noClose>((resolve) => setTimeout(() => resolve(noClose), 15_000))]);
      return { messages, protocol: socket.protocol, chunksSent, mimeType: recordedType, close };
    },
    { ...options, phrase: PHRASE, constraints: RAW_CAPTURE },
  );
}

function assertTranscribedStream(result: StreamResult, recordings: number): void {
  const seen = JSON.stringify(result.messages);
  assert.ok(
    result.chunksSent.every((count) => count >= 4),
    `each recording sent its chunks (${result.chunksSent.join(', ')})`,
  );
  assert.equal(typeof result.messages[0]?.session_id, 'string', `the session started: ${seen}`);
  const finals = result.messages.filter((message) => 'final' in message).map((message) => message.final);
  assert.deepEqual(finals, Array(recordings).fill(PHRASE), `pocketsphinx heard the phrase of each recording through ${result.mimeType}: ${seen}`);
  assert.deepEqual(
    result.messages.filter((message) => 'error' in message),
    [],
    'no errors',
  );
  // Interim passes run every 700 ms of an open turn; the phrase and its trailing pad last longer.
  assert.ok(
    result.messages.some((message) => typeof message.partial === 'string' && message.partial !== ''),
    `partial text arrived while the phrase was spoken: ${seen}`,
  );
  assert.deepEqual(result.close, { code: 1000, reason: 'stopped', wasClean: true }, 'stop closes the socket cleanly');
}

const transcriptionsUrl = (server: TestServer) => `${server.url.replace(/^http/, 'ws')}/v1/transcriptions`;

test('MediaRecorder’s 250 ms WebM/Opus chunks (Chrome, Firefox) streamed to /v1/transcriptions: partial text, the phrase as final, a clean close on stop', async () => {
  const { page, errors } = await openPage(openServer.url);
  const result = await streamMicrophone(page, { url: transcriptionsUrl(openServer), protocols: [], mimeType: 'audio/webm;codecs=opus', recordings: 1 });
  assert.equal(result.mimeType, 'audio/webm;codecs=opus');
  assertTranscribedStream(result, 1);
  assert.equal(result.protocol, '');
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('push-to-talk in Safari’s format: two MediaRecorder runs of fragmented MP4 on one socket, each a final', async () => {
  const { page, errors } = await openPage(openServer.url);
  const result = await streamMicrophone(page, { url: transcriptionsUrl(openServer), protocols: [], mimeType: 'audio/mp4', recordings: 2 });
  assert.match(result.mimeType, /^audio\/mp4/);
  assertTranscribedStream(result, 2);
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('with API_TOKENS, the browser’s token travels as the openai-insecure-api-key subprotocol (a browser WebSocket cannot set headers)', async () => {
  const { page, errors } = await openPage(tokenServer.url);
  const url = transcriptionsUrl(tokenServer);
  const result = await streamMicrophone(page, { url, protocols: [`openai-insecure-api-key.${TOKEN}`], mimeType: 'audio/webm;codecs=opus', recordings: 1 });
  assertTranscribedStream(result, 1);
  assert.equal(result.protocol, `openai-insecure-api-key.${TOKEN}`, 'the server selected the only protocol offered, as a browser requires');

  // A wrong token: the handshake fails, which a browser sees as an error and close 1006.
  const refused = await page.evaluate(async (url) => {
    const socket = new WebSocket(url, ['openai-insecure-api-key.not-the-token']);
    return new Promise<{ code: number; errored: boolean }>((resolve) => {
      let errored = false;
      socket.onerror = () => (errored = true);
      socket.onclose = (event) => resolve({ code: event.code, errored });
    });
  }, url);
  assert.deepEqual(refused, { code: 1006, errored: true });
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('/v1/realtime from a browser offering only the token subprotocol: the handshake succeeds and the session starts', async () => {
  const { page, errors } = await openPage(tokenServer.url);
  const opened = await page.evaluate(
    async ({ url, token }) => {
      const socket = new WebSocket(url, [`openai-insecure-api-key.${token}`]);
      return new Promise<{ protocol: string; first: string } | { failed: number }>((resolve) => {
        socket.onmessage = (event) => {
          resolve({ protocol: socket.protocol, first: JSON.parse(String(event.data)).type });
          socket.close();
        };
        socket.onclose = (event) => resolve({ failed: event.code });
      });
    },
    { url: tokenServer.realtimeUrl, token: TOKEN },
  );
  assert.deepEqual(opened, { protocol: `openai-insecure-api-key.${TOKEN}`, first: 'session.created' });
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('raw PCM16 from an AudioWorklet at the AudioContext’s own rate (a Blob-URL module, as libraries ship them) streamed to /v1/transcriptions', async () => {
  const { page, errors } = await openPage(openServer.url);
  const result = await page.evaluate(
    async ({ url, phrase, constraints }) => {
      // The worklet converts each 128-frame render quantum to PCM16 and posts its bytes.
      const workletSource = `
        registerProcessor('pcm16-capture', class extends AudioWorkletProcessor {
          process(inputs) {
            const channel = inputs[0][0];
            if (channel) {
              const pcm = new Int16Array(channel.length);
              for (let i = 0; i < channel.length; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(channel[i] * 32767)));
              this.port.postMessage(pcm.buffer, [pcm.buffer]);
            }
            return true;
          }
        });`;
      const context = new AudioContext();
      const moduleUrl = URL.createObjectURL(new Blob([workletSource], { type: 'text/javascript' }));
      await context.audioWorklet.addModule(moduleUrl);
      const socket = new WebSocket(url);
      const messages: Array<Record<string, unknown>> = [];
      let heard: () => void = () => {};
      const phraseHeard = new Promise<void>((resolve) => (heard = resolve));
      socket.onmessage = (event) => {
        const message = JSON.parse(event.data as string) as Record<string, unknown>;
        messages.push(message);
        if (message.final === phrase) heard();
      };
      const closed = new Promise<{ code: number; reason: string }>(
        (resolve) => (socket.onclose = (event) => resolve({ code: event.code, reason: event.reason })),
      );
      await new Promise<void>((resolve, reject) => {
        socket.onopen = () => resolve();
        socket.onerror = () => reject(new Error('the WebSocket failed to open'));
      });
      socket.send(JSON.stringify({ action: 'start', format: 'pcm16', sample_rate: context.sampleRate }));

      const stream = await navigator.mediaDevices.getUserMedia({ audio: constraints });
      const source = context.createMediaStreamSource(stream);
      const capture = new AudioWorkletNode(context, 'pcm16-capture');
      // Batches of 20 quanta (about 50 ms): one message per 128-sample render quantum would be some 350 a second.
      let pending: ArrayBuffer[] = [];
      let bytesSent = 0;
      capture.port.onmessage = (event) => {
        pending.push(event.data as ArrayBuffer);
        if (pending.length < 20 || socket.readyState !== WebSocket.OPEN) return;
        const batch = new Uint8Array(pending.reduce((sum, buffer) => sum + buffer.byteLength, 0));
        let offset = 0;
        for (const buffer of pending) {
          batch.set(new Uint8Array(buffer), offset);
          offset += buffer.byteLength;
        }
        pending = [];
        socket.send(batch.buffer);
        bytesSent += batch.byteLength;
      };
      source.connect(capture);
      await Promise.race([phraseHeard, closed, new Promise((resolve) => setTimeout(resolve, 15_000))]);
      source.disconnect();
      stream.getTracks().forEach((track) => track.stop());
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ action: 'stop' }));
      const close = await Promise.race([
        closed,
        new Promise<{ code: number; reason: string }>((resolve) => setTimeout(() => resolve({ code: -1, reason: 'no close within 10 s' }), 10_000)),
      ]);
      const sampleRate = context.sampleRate;
      await context.close();
      return { messages, sampleRate, bytesSent, close };
    },
    { url: transcriptionsUrl(openServer), phrase: PHRASE, constraints: RAW_CAPTURE },
  );
  const seen = JSON.stringify(result.messages);
  assert.ok(result.bytesSent > result.sampleRate, `PCM16 went out (${result.bytesSent} bytes at ${result.sampleRate} Hz)`);
  assert.deepEqual(
    result.messages.filter((message) => 'error' in message),
    [],
    `no errors: ${seen}`,
  );
  assert.ok(
    result.messages.some((message) => message.final === PHRASE),
    `the phrase was heard at ${result.sampleRate} Hz: ${seen}`,
  );
  assert.deepEqual(result.close, { code: 1000, reason: 'stopped' });
  assert.deepEqual(errors, []);
  await page.context().close();
});

// ── Recorded uploads ──────────────────────────────────────────────────────────────────────

test('MediaRecorder Blobs (WebM/Opus and Safari’s MP4) posted with fetch + FormData to /v1/audio/transcriptions (OpenAI-style) and to /upload are transcribed', async () => {
  const { page, errors } = await openPage(tokenServer.url);
  const results = await page.evaluate(
    async ({ token, constraints }) => {
      // Three seconds of the microphone, recorded twice at once: the phrase is spoken from 0.5 s to about 1.6 s.
      const stream = await navigator.mediaDevices.getUserMedia({ audio: constraints });
      const record = async (mimeType: string) => {
        const recorder = new MediaRecorder(stream, { mimeType });
        const chunks: Blob[] = [];
        recorder.ondataavailable = (event) => chunks.push(event.data);
        const stopped = new Promise((resolve) => (recorder.onstop = resolve));
        recorder.start();
        await new Promise((resolve) => setTimeout(resolve, 3000));
        recorder.stop();
        await stopped;
        return new Blob(chunks, { type: recorder.mimeType });
      };
      const blobs = await Promise.all([record('audio/webm;codecs=opus'), record('audio/mp4')]);
      stream.getTracks().forEach((track) => track.stop());
      const headers = { Authorization: `Bearer ${token}` };
      const results = [];
      for (const blob of blobs) {
        // The OpenAI SDK's browser path: a File in FormData, with a name that has an extension.
        const openai = new FormData();
        openai.append('file', blob, blob.type.startsWith('audio/mp4') ? 'recording.m4a' : 'recording.webm');
        openai.append('model', 'whisper-1');
        const transcription = await fetch('/v1/audio/transcriptions', { method: 'POST', headers, body: openai });
        // A hand-written form: the Blob as it is (FormData names it "blob").
        const upload = new FormData();
        upload.append('file', blob);
        upload.append('target_lang', 'en');
        upload.append('primary_lang', 'en');
        const uploaded = await fetch('/upload', { method: 'POST', headers, body: upload });
        results.push({
          blobBytes: blob.size,
          blobType: blob.type,
          transcription: { status: transcription.status, body: await transcription.json() },
          upload: { status: uploaded.status, body: await uploaded.json() },
        });
      }
      return results;
    },
    { token: TOKEN, constraints: RAW_CAPTURE },
  );
  assert.deepEqual(
    results.map((result) => result.blobType.split(';')[0]),
    ['audio/webm', 'audio/mp4'],
  );
  for (const result of results) {
    const name = result.blobType;
    assert.ok(result.blobBytes > 16 * 1024, `${name}: a real recording (${result.blobBytes} bytes)`);
    assert.equal(result.transcription.status, 200, `${name}: ${JSON.stringify(result.transcription.body)}`);
    assert.equal(result.transcription.body.text, PHRASE, `${name}: /v1/audio/transcriptions heard the phrase`);
    assert.equal(result.upload.status, 200, `${name}: ${JSON.stringify(result.upload.body)}`);
    assert.equal(result.upload.body.transcription, PHRASE, `${name}: /upload heard the phrase`);
    assert.equal(result.upload.body.detected_lang, 'en');
  }
  assert.deepEqual(errors, []);
  await page.context().close();
});

// ── Speech the browser plays ──────────────────────────────────────────────────────────────

interface DecodedSpeech {
  route: string;
  format: string;
  status: number;
  contentType: string | null;
  bytes: number;
  durationSeconds: number;
  peak: number;
  rms: number;
  error: string | null;
}

test('/v1/audio/speech and /tts-proxy audio (mp3, Ogg/Opus, WebM/Opus, wav, flac) decodes with the browser’s AudioContext.decodeAudioData', async () => {
  const { page, errors } = await openPage(tokenServer.url);
  const requests = [
    ...['mp3', 'opus', 'wav', 'flac'].map((format) => ({ route: '/v1/audio/speech', format })),
    ...['opus', 'webm', 'ogg', 'mp3', 'wav'].map((format) => ({ route: '/tts-proxy', format })),
  ];
  const decoded = await page.evaluate(
    async ({ requests, token }) => {
      const context = new AudioContext();
      const results: DecodedSpeech[] = [];
      for (const { route, format } of requests) {
        const response = await fetch(route, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ model: 'tts-1', voice: 'alloy', input: 'The light in the kitchen is on now.', response_format: format }),
        });
        const bytes = await response.arrayBuffer();
        const result: DecodedSpeech = {
          route,
          format,
          status: response.status,
          contentType: response.headers.get('content-type'),
          bytes: bytes.byteLength,
          durationSeconds: 0,
          peak: 0,
          rms: 0,
          error: null,
        };
        try {
          const audio = await context.decodeAudioData(bytes);
          const samples = audio.getChannelData(0);
          let sum = 0;
          for (const sample of samples) {
            sum += sample * sample;
            result.peak = Math.max(result.peak, Math.abs(sample));
          }
          result.durationSeconds = audio.duration;
          result.rms = Math.sqrt(sum / samples.length);
        } catch (error) {
          result.error = String(error);
        }
        results.push(result);
      }
      await context.close();
      return results;
    },
    { requests, token: TOKEN },
  );
  assert.equal(decoded.length, requests.length);
  for (const result of decoded) {
    const name = `${result.route} ${result.format}`;
    assert.equal(result.status, 200, `${name}: HTTP ${result.status}`);
    assert.equal(result.error, null, `${name} (${result.contentType}, ${result.bytes} bytes) decodes in Chromium`);
    assert.ok(result.durationSeconds > 0.5, `${name}: ${result.durationSeconds.toFixed(2)} s decoded`);
    assert.ok(
      result.peak > 0.05 && result.rms > 0.005,
      `${name}: the decoded audio is not silent (peak ${result.peak.toFixed(3)}, rms ${result.rms.toFixed(4)})`,
    );
  }
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('speech streamed into a MediaSource plays to its end: /tts-proxy’s WebM/Opus (its documented use) and /v1/audio/speech’s mp3, chunk by chunk as they arrive', async () => {
  const { page, errors } = await openPage(tokenServer.url);
  const played = await page.evaluate(
    async ({ token }) => {
      const results = [];
      for (const { route, format, sourceType } of [
        { route: '/tts-proxy', format: 'opus', sourceType: 'audio/webm; codecs="opus"' },
        { route: '/v1/audio/speech', format: 'mp3', sourceType: 'audio/mpeg' },
      ]) {
        const response = await fetch(route, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
          // Four sentences, each synthesized and encoded in turn: the stream's pieces leave tens of
          // milliseconds apart, so even a busy browser reads more than one.
          body: JSON.stringify({
            voice: 'alloy',
            input:
              'The light in the kitchen is on now. It stays on until you turn it off. The door to the garden is closed. The heating runs until ten tonight.',
            response_format: format,
          }),
        });
        const source = new MediaSource();
        const audio = new Audio();
        audio.src = URL.createObjectURL(source);
        await new Promise((resolve) => source.addEventListener('sourceopen', resolve, { once: true }));
        const buffer = source.addSourceBuffer(sourceType);
        const failures: string[] = [];
        buffer.onerror = () => failures.push('the SourceBuffer refused a chunk');
        audio.onerror = () => failures.push(`the audio element failed: ${audio.error?.message ?? audio.error?.code}`);
        const reader = (response.body as ReadableStream<Uint8Array<ArrayBuffer>>).getReader();
        let chunks = 0;
        for (let next = await reader.read(); !next.done; next = await reader.read()) {
          chunks++;
          buffer.appendBuffer(next.value);
          await new Promise((resolve) => buffer.addEventListener('updateend', resolve, { once: true }));
        }
        source.endOfStream();
        // Four times as fast: the test need not wait for the whole sentence.
        audio.playbackRate = 4;
        await audio.play().catch((error: unknown) => failures.push(`play() failed: ${String(error)}`));
        await new Promise((resolve) => {
          audio.onended = resolve;
          setTimeout(resolve, 5000);
        });
        results.push({
          route,
          format,
          status: response.status,
          contentType: response.headers.get('content-type'),
          chunks,
          durationSeconds: source.duration,
          playedSeconds: audio.currentTime,
          ended: audio.ended,
          failures,
        });
      }
      return results;
    },
    { token: TOKEN },
  );
  for (const result of played) {
    const name = `${result.route} ${result.format} (${result.contentType})`;
    assert.equal(result.status, 200, name);
    assert.deepEqual(result.failures, [], name);
    assert.ok(result.chunks > 1, `${name} arrived in pieces (${result.chunks})`);
    assert.ok(result.durationSeconds > 1.5, `${name}: ${result.durationSeconds} s buffered`);
    assert.equal(result.ended, true, `${name} played to its end (${result.playedSeconds} of ${result.durationSeconds} s)`);
  }
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('a Stop button: a long /v1/audio/speech or /tts-proxy stream aborted after its first bytes frees the synthesizer, and the next request is answered in full', async () => {
  const { page, errors } = await openPage(tokenServer.url);
  const results = await page.evaluate(
    async ({ token }) => {
      const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
      const long = 'This sentence is one of many in a long text, so that speaking it all takes a while. '.repeat(40);
      const results = [];
      for (const [route, format] of [
        ['/v1/audio/speech', 'mp3'],
        ['/tts-proxy', 'opus'],
      ]) {
        const controller = new AbortController();
        const response = await fetch(route, {
          method: 'POST',
          headers,
          signal: controller.signal,
          body: JSON.stringify({ input: long, response_format: format }),
        });
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        const first = await reader.read();
        controller.abort();
        const aborted = await reader.read().then(
          () => 'not aborted',
          (error: unknown) => (error as Error).name,
        );
        // The synthesizer has one worker: it answers this only once the aborted stream let go of it.
        const next = await fetch(route, { method: 'POST', headers, body: JSON.stringify({ input: 'The light is off.', response_format: format }) });
        const context = new AudioContext();
        const durationSeconds = next.ok ? (await context.decodeAudioData(await next.arrayBuffer())).duration : 0;
        await context.close();
        results.push({ route, firstBytes: first.value?.byteLength ?? 0, aborted, status: next.status, durationSeconds });
      }
      return results;
    },
    { token: TOKEN },
  );
  for (const result of results) {
    assert.ok(result.firstBytes > 0, `${result.route}: audio began before the whole text was spoken`);
    assert.equal(result.aborted, 'AbortError', `${result.route}: the page stopped the stream`);
    assert.equal(result.status, 200, result.route);
    assert.ok(result.durationSeconds > 0.5, `${result.route}: the next request was answered in full (${result.durationSeconds} s)`);
  }
  assert.deepEqual(errors, []);
  await page.context().close();
});

// ── The gateway protocol on / ────────────────────────────────────────────────────────────

test('the gateway protocol on / from a browser WebSocket: binary PCM16 frames of a decoded WAV in, stt_final and binary TTS frames out', async () => {
  const { page, errors } = await openPage(tokenServer.url);
  const url = `${tokenServer.url.replace(/^http/, 'ws')}/?token=${TOKEN}`;
  const result = await page.evaluate(
    async ({ url, wavPath }) => {
      // The WAV decoded and resampled by the browser to the protocol's default 24 kHz.
      const context = new AudioContext({ sampleRate: 24000 });
      const audio = await context.decodeAudioData(await (await fetch(wavPath)).arrayBuffer());
      await context.close();
      const speech = audio.getChannelData(0);
      // 0.3 s of silence before and 1.5 s after, so the VAD hears the turn begin and end.
      const samples = new Float32Array(Math.round(0.3 * 24000) + speech.length + Math.round(1.5 * 24000));
      samples.set(speech, Math.round(0.3 * 24000));
      const pcm = new Int16Array(samples.length);
      for (let index = 0; index < samples.length; index++) pcm[index] = Math.max(-32768, Math.min(32767, Math.round(samples[index] * 32767)));

      const socket = new WebSocket(url);
      socket.binaryType = 'arraybuffer';
      const messages: Array<Record<string, unknown>> = [];
      let audioBytes = 0;
      let audioFrames = 0;
      let oddFrames = 0;
      let ttsEnded: () => void = () => {};
      const ttsEnd = new Promise<void>((resolve) => (ttsEnded = resolve));
      let readied: () => void = () => {};
      const ready = new Promise<void>((resolve) => (readied = resolve));
      socket.onmessage = (event) => {
        if (event.data instanceof ArrayBuffer) {
          audioBytes += event.data.byteLength;
          audioFrames++;
          if (event.data.byteLength % 2 !== 0) oddFrames++;
          return;
        }
        const message = JSON.parse(event.data as string) as Record<string, unknown>;
        messages.push(message);
        if (message.type === 'ready') readied();
        if (message.type === 'tts_end' || message.type === 'error') ttsEnded();
      };
      const closed = new Promise<{ code: number; reason: string }>(
        (resolve) => (socket.onclose = (event) => resolve({ code: event.code, reason: event.reason })),
      );
      await new Promise<void>((resolve, reject) => {
        socket.onopen = () => resolve();
        socket.onerror = () => reject(new Error('the gateway WebSocket failed to open'));
      });
      socket.send(JSON.stringify({ type: 'start' }));
      await ready;
      // 40 ms frames, twice as fast as real time.
      const frame = 960;
      for (let start = 0; start < pcm.length; start += frame) {
        socket.send(pcm.slice(start, start + frame).buffer);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await Promise.race([ttsEnd, closed, new Promise((resolve) => setTimeout(resolve, 20_000))]);
      socket.send(JSON.stringify({ type: 'end' }));
      const close = await Promise.race([
        closed,
        new Promise<{ code: number; reason: string }>((resolve) => setTimeout(() => resolve({ code: -1, reason: 'no close within 10 s' }), 10_000)),
      ]);
      return { messages, audioBytes, audioFrames, oddFrames, close };
    },
    { url, wavPath: PHRASE_WAV_PATH },
  );
  const seen = JSON.stringify(result.messages);
  const types = result.messages.map((message) => message.type);
  assert.equal(types[0], 'ready', seen);
  assert.equal(result.messages[0].input_sample_rate, 24000);
  const final = result.messages.find((message) => message.type === 'stt_final');
  assert.equal(final?.text, PHRASE, `stt_final carries the phrase: ${seen}`);
  assert.ok(types.includes('tts_start') && types.includes('tts_end'), `the reply was spoken: ${seen}`);
  assert.ok(types.indexOf('stt_final') < types.indexOf('tts_start'));
  assert.equal(result.oddFrames, 0, 'every binary frame holds whole PCM16 samples');
  assert.ok(
    result.audioBytes > 2 * 24000 * 0.5,
    `at least half a second of 24 kHz PCM16 came back in ${result.audioFrames} binary frames (${result.audioBytes} bytes)`,
  );
  assert.deepEqual(
    result.messages.filter((message) => message.type === 'error'),
    [],
    'no errors',
  );
  assert.deepEqual(result.close, { code: 1000, reason: 'finished' }, 'end closes the session once its turn has its result');
  assert.deepEqual(errors, []);
  await page.context().close();
});

// ── Another origin ────────────────────────────────────────────────────────────────────────

test('a page on another origin: a preflighted fetch to /v1/audio/speech with an Authorization header succeeds, and a wrong token is a readable 401', async () => {
  const { page, errors } = await openPage(otherOriginUrl);
  const results = await page.evaluate(
    async ({ gateway, token }) => {
      const speak = async (bearer: string) => {
        try {
          const response = await fetch(`${gateway}/v1/audio/speech`, {
            method: 'POST',
            // Authorization and a JSON Content-Type make this a preflighted request.
            headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
            body: JSON.stringify({ model: 'tts-1', voice: 'alloy', input: 'Hello from another origin.', response_format: 'mp3' }),
          });
          const bytes = await response.arrayBuffer();
          let durationSeconds = 0;
          if (response.ok) {
            const context = new AudioContext();
            durationSeconds = (await context.decodeAudioData(bytes)).duration;
            await context.close();
          }
          return {
            status: response.status,
            contentType: response.headers.get('content-type'),
            bytes: bytes.byteLength,
            durationSeconds,
            body: response.ok ? null : new TextDecoder().decode(bytes),
            error: null,
          };
        } catch (error) {
          return { status: 0, contentType: null, bytes: 0, durationSeconds: 0, body: null, error: String(error) };
        }
      };
      return { good: await speak(token), bad: await speak('not-the-token'), origin: location.origin };
    },
    { gateway: tokenServer.url, token: TOKEN },
  );
  assert.notEqual(results.origin, new URL(tokenServer.url).origin, 'the page is on another origin');
  assert.equal(results.good.error, null, `the cross-origin request was not blocked: ${results.good.error}`);
  assert.equal(results.good.status, 200);
  assert.equal(results.good.contentType, 'audio/mpeg');
  assert.ok(results.good.durationSeconds > 0.5, `the cross-origin speech decodes (${results.good.durationSeconds} s)`);
  assert.equal(results.bad.error, null, `a refused request is still readable cross-origin: ${results.bad.error}`);
  assert.equal(results.bad.status, 401);
  assert.match(results.bad.body ?? '', /invalid API token/);

  // The preflight itself, as the browser sent it.
  const preflight = await fetch(`${tokenServer.url}/v1/audio/speech`, {
    method: 'OPTIONS',
    headers: { Origin: otherOriginUrl, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' },
  });
  assert.ok(preflight.status === 204 || preflight.status === 200, `the preflight is answered without a token (${preflight.status})`);
  assert.ok(['*', otherOriginUrl].includes(preflight.headers.get('access-control-allow-origin') ?? ''));
  assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/i);
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('CORS_ORIGINS names the origins allowed: a page of another origin is blocked by the browser, the listed origin’s preflight is allowed', async () => {
  const server = await startTestServer(assembleProviders({ transcriber, responder: new EchoResponder(), synthesizer }), {
    API_TOKENS: TOKEN,
    CORS_ORIGINS: 'https://app.example.com',
  });
  try {
    const { page, errors } = await openPage(otherOriginUrl);
    const blocked = await page.evaluate(
      async ({ gateway, token }) => {
        try {
          const response = await fetch(`${gateway}/v1/audio/speech`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
            body: JSON.stringify({ input: 'Hello.', response_format: 'mp3' }),
          });
          return `HTTP ${response.status}`;
        } catch (error) {
          return String(error);
        }
      },
      { gateway: server.url, token: TOKEN },
    );
    assert.match(blocked, /TypeError: Failed to fetch/, 'a page of an origin not listed cannot read the gateway');
    await page.context().close();
    assert.deepEqual(errors, []);

    // The same request from the listed origin, as its preflight.
    const preflight = await fetch(`${server.url}/v1/audio/speech`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' },
    });
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example.com');
  } finally {
    await server.close();
  }
});

test('Socket.IO /realtime from a page on another origin (the socket.io client’s default: long-polling, then the WebSocket upgrade): the phrase as transcript_final, the answer as audio', async () => {
  const { page, errors, requests } = await openPage(otherOriginUrl);
  await page.addScriptTag({ path: SOCKET_IO_CLIENT });
  const result = await page.evaluate(
    async ({ gateway, token, wavPath }) => {
      const context = new AudioContext({ sampleRate: 24000 });
      const audio = await context.decodeAudioData(await (await fetch(wavPath)).arrayBuffer());
      await context.close();
      const speech = audio.getChannelData(0);
      const samples = new Float32Array(Math.round(0.3 * 24000) + speech.length + Math.round(1.5 * 24000));
      samples.set(speech, Math.round(0.3 * 24000));
      const base64Frames: string[] = [];
      for (let start = 0; start < samples.length; start += 960) {
        const frame = samples.subarray(start, start + 960);
        const pcm = new Int16Array(frame.length);
        for (let index = 0; index < frame.length; index++) pcm[index] = Math.max(-32768, Math.min(32767, Math.round(frame[index] * 32767)));
        let binary = '';
        for (const byte of new Uint8Array(pcm.buffer)) binary += String.fromCharCode(byte);
        base64Frames.push(btoa(binary));
      }

      type Message = { type: string; content?: unknown; code?: string };
      const io = (window as unknown as { io: (url: string, options: object) => any }).io;
      const socket = io(`${gateway}/realtime`, { auth: { token }, reconnection: false });
      const messages: Message[] = [];
      let answered: () => void = () => {};
      const done = new Promise<void>((resolve) => (answered = resolve));
      socket.on('message', (message: Message) => {
        messages.push(message.type === 'audio' ? { type: 'audio', content: (message.content as string).length } : message);
        if (message.type === 'turn_done' || message.type === 'error') answered();
      });
      const connected = await new Promise<string>((resolve) => {
        socket.on('connect', () => resolve('connected'));
        socket.on('connect_error', (error: Error) => resolve(`connect_error: ${error.message}`));
      });
      if (connected !== 'connected') return { connected, messages, finalTransport: null };
      for (const frame of base64Frames) {
        socket.emit('audio', { audio: frame });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 20_000))]);
      const finalTransport = socket.io.engine.transport.name as string;
      socket.disconnect();
      return { connected, messages, finalTransport };
    },
    { gateway: tokenServer.url, token: TOKEN, wavPath: PHRASE_WAV_PATH },
  );
  const seen = JSON.stringify(result.messages);
  assert.equal(result.connected, 'connected', 'the cross-origin handshake over long-polling succeeded');
  const polling = requests.filter((request) => request.includes(`${tokenServer.url}/socket.io/`) && request.includes('transport=polling'));
  assert.ok(
    polling.some((request) => request.startsWith('GET ')) && polling.some((request) => request.startsWith('POST ')),
    `the connection began with long-polling, plain cross-origin HTTP: ${polling.join(', ')}`,
  );
  assert.equal(result.finalTransport, 'websocket', 'and upgraded to a WebSocket');
  assert.equal(result.messages[0]?.type, 'connected', seen);
  const final = result.messages.find((message) => message.type === 'transcript_final');
  assert.equal(final?.content, PHRASE, `the phrase was heard: ${seen}`);
  const audioBytes = result.messages.filter((message) => message.type === 'audio').reduce((sum, message) => sum + Number(message.content), 0);
  assert.ok(audioBytes > 0, `the answer came back as audio: ${seen}`);
  assert.equal(result.messages.at(-1)?.type, 'turn_done', seen);
  assert.deepEqual(
    result.messages.filter((message) => message.type === 'error'),
    [],
  );
  assert.deepEqual(errors, []);
  await page.context().close();
});
