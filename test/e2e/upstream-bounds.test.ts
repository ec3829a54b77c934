/**
 * Every upstream answer is bounded, end to end: a real speechbridge server whose providers are
 * built from its configuration (WHISPER_URL, OPENAI_API_BASE, TTS_API_URL, DIAR_URL) against
 * real local upstreams that answer huge, endless, dripping or empty, driven by a raw `ws`
 * client on /v1/realtime and by fetch on the HTTP routes. For each stage and each misbehaviour:
 * the turn ends with a failure naming the upstream within its documented bound (+ slack), the
 * gateway read only a bounded part of what was offered (memory stays far below it), no
 * connection to the upstream is left open, and the next turn works.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { encodeBase64Audio } from '../../src/audio/base64.ts';
import { writeWav } from '../../src/audio/wav.ts';
import { startServer, type RunningServer } from '../../src/server/app.ts';
import { loadConfig } from '../../src/server/config.ts';
import { createProviders } from '../../src/server/provider-factory.ts';
import type { Providers } from '../../src/server/providers.ts';
import { createLogger } from '../../src/server/logging.ts';
import { startAudioUpstream, type AudioBehaviour, type AudioUpstream } from '../helpers/audio-upstream.ts';
import { startChatCompletionsUpstream, type ChatCompletionsUpstream, type ChatReply } from '../helpers/chat-completions-upstream.ts';
import type { AnswerRecord, Misbehaviour } from '../helpers/misbehaviour.ts';
import { RealtimeClient, type WireEvent } from './realtime-harness.ts';

const REQUEST_TIMEOUT_MS = 3000;
const RESPONSE_TIMEOUT_MS = 6000;
const MAX_SENTENCE_AUDIO_MS = 5000;
const MAX_RESPONSE_AUDIO_MS = 20_000;
/** Room for a shared 2-core machine between a deadline firing and the client seeing it. */
const SLACK_MS = 3000;
const MB = 1024 * 1024;
/** What a misbehaving upstream offers: far more than any bound lets through. */
const OFFERED_BYTES = 256 * MB;
/** Kernel socket buffers on loopback hold a few MB between a reader that stopped and the writer. */
const READ_BOUND_BYTES = 16 * MB;
/** The gateway's memory growth allowed while an upstream offers OFFERED_BYTES. */
const MEMORY_BOUND_BYTES = 64 * MB;

const MISBEHAVIOURS: Array<[string, Misbehaviour]> = [
  ['huge', { kind: 'huge', bytes: OFFERED_BYTES }],
  ['endless', { kind: 'endless' }],
  ['dripping', { kind: 'drip', everyMs: 200 }],
  ['empty', { kind: 'empty' }],
];

/** What each upstream does with its next requests; tests set it and put it back to normal. */
const plan: { transcription: AudioBehaviour; chat: ChatReply; speech: AudioBehaviour; diarization: AudioBehaviour } = {
  transcription: 'normal',
  chat: 'Fine, thanks.',
  speech: 'normal',
  diarization: 'normal',
};

function normal(): void {
  Object.assign(plan, { transcription: 'normal', chat: 'Fine, thanks.', speech: 'normal', diarization: 'normal' });
}

let audio: AudioUpstream;
let chat: ChatCompletionsUpstream;
let providers: Providers;
let server: RunningServer;
let realtimeUrl: string;

before(async () => {
  audio = await startAudioUpstream({ transcription: () => plan.transcription, speech: () => plan.speech, diarization: () => plan.diarization });
  chat = await startChatCompletionsUpstream({ reply: () => plan.chat, closeAfterAnswer: true });
  const env = {
    SERVER_NAME: '127.0.0.1',
    SERVER_PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    WHISPER_URL: audio.baseURL,
    OPENAI_API_BASE: chat.baseURL,
    TTS_API_URL: audio.baseURL,
    DIAR_URL: audio.diarizationURL,
    REQUEST_TIMEOUT: String(REQUEST_TIMEOUT_MS / 1000),
    RESPONSE_TIMEOUT: String(RESPONSE_TIMEOUT_MS / 1000),
    MAX_SENTENCE_AUDIO_SECONDS: String(MAX_SENTENCE_AUDIO_MS / 1000),
    MAX_RESPONSE_AUDIO_SECONDS: String(MAX_RESPONSE_AUDIO_MS / 1000),
  };
  const config = loadConfig(env);
  const logger = createLogger(config.logLevel);
  providers = await createProviders(config, logger);
  assert.deepEqual(
    [providers.transcriber.name, providers.responder.name, providers.synthesizer.name],
    ['openai-transcriber', 'openai-responder', 'openai-synthesizer'],
  );
  server = await startServer({ config, providers, logger });
  realtimeUrl = `${server.url.replace(/^http/, 'ws')}/v1/realtime`;
});

after(async () => {
  await server?.close();
  await providers?.close();
  await audio?.close();
  await chat?.close();
});

// ── Observations ────────────────────────────────────────────────────────────────────────

/** Samples the process's memory every 5 ms; `stop` gives the peak growth over the start. */
function watchMemory(): { stop(): { rss: number; heap: number } } {
  const start = process.memoryUsage();
  let peakRss = start.rss;
  let peakHeap = start.heapUsed + start.external;
  const timer = setInterval(() => {
    const now = process.memoryUsage();
    peakRss = Math.max(peakRss, now.rss);
    peakHeap = Math.max(peakHeap, now.heapUsed + now.external);
  }, 5);
  return {
    stop() {
      clearInterval(timer);
      return { rss: peakRss - start.rss, heap: peakHeap - (start.heapUsed + start.external) };
    },
  };
}

/** The misbehaving answer was ended by the gateway (unless it was empty), having read only a bounded part, and no socket is left. */
async function assertUpstreamReleased(
  records: AnswerRecord[],
  upstream: { connections: { drained(ms: number): Promise<void>; open(): number } },
  behaviour: Misbehaviour,
): Promise<void> {
  const record = records.at(-1);
  assert.ok(record, 'the upstream was never called');
  assert.deepEqual(record.behaviour, behaviour);
  await Promise.race([
    record.finished,
    new Promise((_, reject) => setTimeout(() => reject(new Error('the upstream answer is still being written')), SLACK_MS)),
  ]);
  if (behaviour.kind !== 'empty') assert.equal(record.closedByClient, true, 'the gateway did not abort the upstream call');
  assert.ok(record.bytesWritten < READ_BOUND_BYTES, `the upstream got ${record.bytesWritten} bytes out before the gateway stopped reading`);
  await upstream.connections.drained(SLACK_MS);
  assert.equal(upstream.connections.open(), 0);
}

function assertMemory(growth: { rss: number; heap: number }, what: string): void {
  assert.ok(growth.heap < MEMORY_BOUND_BYTES, `${what}: heap grew ${Math.round(growth.heap / MB)} MB while the upstream offered ${OFFERED_BYTES / MB} MB`);
  assert.ok(growth.rss < MEMORY_BOUND_BYTES, `${what}: RSS grew ${Math.round(growth.rss / MB)} MB while the upstream offered ${OFFERED_BYTES / MB} MB`);
}

// ── Realtime turns ──────────────────────────────────────────────────────────────────────

async function session(): Promise<RealtimeClient> {
  const client = await RealtimeClient.connect(realtimeUrl);
  await client.next('session.created');
  client.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { turn_detection: null } } } });
  await client.next('session.updated');
  return client;
}

/** One second of a 440 Hz tone at 24 kHz: the fake transcriber does not listen, the gateway only needs a turn. */
const TURN_AUDIO = encodeBase64Audio(
  Int16Array.from({ length: 24_000 }, (_, i) => Math.round(6000 * Math.sin((2 * Math.PI * 440 * i) / 24_000))),
  'pcm16',
);

/** Commits a spoken turn; its transcription's outcome event and how long it took. */
async function spokenTurn(client: RealtimeClient): Promise<{ event: WireEvent; ms: number }> {
  const from = client.events.length;
  client.send({ type: 'input_audio_buffer.append', audio: TURN_AUDIO });
  const started = performance.now();
  client.send({ type: 'input_audio_buffer.commit' });
  const event = await client.next(
    (candidate) =>
      candidate.type === 'conversation.item.input_audio_transcription.completed' || candidate.type === 'conversation.item.input_audio_transcription.failed',
    REQUEST_TIMEOUT_MS + SLACK_MS + 5000,
    from,
  );
  return { event, ms: performance.now() - started };
}

/** Asks for a response to a text item (spoken unless `modalities` says otherwise); its response.done, how long it took and the audio that came. */
async function textTurn(client: RealtimeClient, text: string, modalities?: string[]): Promise<{ done: WireEvent; ms: number; audioBytes: number }> {
  const from = client.events.length;
  client.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text }] } });
  const started = performance.now();
  client.send({ type: 'response.create', ...(modalities && { response: { output_modalities: modalities } }) });
  const done = await client.next('response.done', RESPONSE_TIMEOUT_MS + SLACK_MS + 10_000, from);
  const ms = performance.now() - started;
  const audioBytes = client.events
    .slice(from)
    .filter((event) => event.type === 'response.output_audio.delta')
    .reduce((sum, event) => sum + Buffer.from(event.delta as string, 'base64').length, 0);
  return { done, ms, audioBytes };
}

function failureOf(done: WireEvent): { code: string; message: string } {
  assert.equal(done.response.status, 'failed', `response ended ${done.response.status}: ${JSON.stringify(done.response.status_details)}`);
  assert.equal(done.response.status_details.type, 'failed');
  return done.response.status_details.error;
}

async function assertNextTurnWorks(client: RealtimeClient): Promise<void> {
  normal();
  const spoken = await spokenTurn(client);
  assert.equal(spoken.event.type, 'conversation.item.input_audio_transcription.completed', JSON.stringify(spoken.event.error));
  assert.equal(spoken.event.transcript, 'hello there');
  const { done, audioBytes } = await textTurn(client, 'And now?');
  assert.equal(done.response.status, 'completed', JSON.stringify(done.response.status_details));
  assert.equal(done.response.output[0].content[0].transcript, 'Fine, thanks.');
  assert.ok(audioBytes > 0, 'the answer has no audio');
}

describe('realtime turns against misbehaving upstreams', () => {
  for (const [name, behaviour] of MISBEHAVIOURS) {
    test(`a ${name} transcription fails the turn's transcription naming the upstream, and the next turn works`, { timeout: 60_000 }, async () => {
      const client = await session();
      try {
        plan.transcription = behaviour;
        const memory = watchMemory();
        const { event, ms } = await spokenTurn(client);
        assertMemory(memory.stop(), `${name} transcription`);
        assert.equal(event.type, 'conversation.item.input_audio_transcription.failed');
        const expected = {
          huge: 'upstream_response_too_large',
          endless: 'upstream_response_too_large',
          drip: 'upstream_timeout',
          empty: 'upstream_bad_response',
        }[behaviour.kind];
        assert.equal(event.error.code, expected, event.error.message);
        assert.ok(event.error.message.includes(audio.baseURL), `"${event.error.message}" does not name the upstream`);
        // The whole transcription call is bounded by REQUEST_TIMEOUT.
        assert.ok(ms < REQUEST_TIMEOUT_MS + SLACK_MS, `the failure came after ${Math.round(ms)} ms`);
        await assertUpstreamReleased(audio.answers, audio, behaviour);
        await assertNextTurnWorks(client);
      } finally {
        normal();
        await client.close();
      }
    });
  }

  for (const [name, behaviour] of MISBEHAVIOURS) {
    test(`a ${name} chat completion stream fails the response naming the upstream, and the next turn works`, { timeout: 60_000 }, async () => {
      const client = await session();
      try {
        plan.chat = { misbehave: behaviour };
        const memory = watchMemory();
        // Text only: a spoken answer to an endless stream would reach MAX_RESPONSE_AUDIO_SECONDS first.
        const { done, ms } = await textTurn(client, 'Talk to me.', ['text']);
        assertMemory(memory.stop(), `${name} chat stream`);
        const error = failureOf(done);
        const expected = {
          huge: 'upstream_response_too_large',
          endless: 'upstream_response_too_large',
          drip: 'upstream_timeout',
          empty: 'upstream_bad_response',
        }[behaviour.kind];
        assert.equal(error.code, expected, error.message);
        assert.ok(error.message.includes(chat.baseURL), `"${error.message}" does not name the upstream`);
        if (behaviour.kind === 'huge' || behaviour.kind === 'endless') {
          assert.match(error.message, /MAX_RESPONSE_CHARS/);
          const text = client.events
            .filter((event) => event.type === 'response.output_text.delta' && event.response_id === done.response.id)
            .map((event) => event.delta)
            .join('');
          assert.ok(text.length <= 16_000, `${text.length} characters reached the client`);
        }
        if (behaviour.kind === 'drip') assert.match(error.message, /RESPONSE_TIMEOUT/);
        assert.ok(ms < RESPONSE_TIMEOUT_MS + SLACK_MS, `response.done came after ${Math.round(ms)} ms`);
        await assertUpstreamReleased(chat.misbehaved, chat, behaviour);
        await assertNextTurnWorks(client);
      } finally {
        normal();
        await client.close();
      }
    });
  }

  for (const [name, behaviour] of MISBEHAVIOURS) {
    test(`a ${name} speech stream fails the response naming the upstream, and the next turn works`, { timeout: 60_000 }, async () => {
      const client = await session();
      try {
        plan.speech = behaviour;
        const memory = watchMemory();
        const { done, ms, audioBytes } = await textTurn(client, 'Say something.');
        assertMemory(memory.stop(), `${name} speech stream`);
        const error = failureOf(done);
        const expected = {
          huge: 'upstream_response_too_large',
          endless: 'upstream_response_too_large',
          drip: 'upstream_timeout',
          empty: 'upstream_bad_response',
        }[behaviour.kind];
        assert.equal(error.code, expected, error.message);
        assert.ok(error.message.includes(audio.baseURL), `"${error.message}" does not name the upstream`);
        if (behaviour.kind === 'huge' || behaviour.kind === 'endless') assert.match(error.message, /MAX_SENTENCE_AUDIO_SECONDS/);
        if (behaviour.kind === 'drip') assert.match(error.message, /RESPONSE_TIMEOUT/);
        // 24 kHz PCM16: 48 bytes a millisecond; no sentence gets past its bound.
        assert.ok(audioBytes <= MAX_SENTENCE_AUDIO_MS * 48, `${audioBytes} bytes of audio reached the client`);
        assert.ok(ms < RESPONSE_TIMEOUT_MS + SLACK_MS, `response.done came after ${Math.round(ms)} ms`);
        await assertUpstreamReleased(audio.answers, audio, behaviour);
        await assertNextTurnWorks(client);
      } finally {
        normal();
        await client.close();
      }
    });
  }
});

// ── HTTP routes ─────────────────────────────────────────────────────────────────────────

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

/** One second of 16 kHz tone as a WAV file: over /upload's 16 KB minimum, and ffmpeg reads it. */
const WAV = writeWav({
  samples: Int16Array.from({ length: 16_000 }, (_, i) => Math.round(6000 * Math.sin((2 * Math.PI * 440 * i) / 16_000))),
  sampleRate: 16_000,
});

function form(fields: Record<string, string> = {}): FormData {
  const body = new FormData();
  body.append('file', new Blob([new Uint8Array(WAV)], { type: 'audio/wav' }), 'turn.wav');
  for (const [name, value] of Object.entries(fields)) body.append(name, value);
  return body;
}

async function transcribeOverHttp(): Promise<{ response: Response; ms: number }> {
  const started = performance.now();
  const response = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form({ model: 'whisper-1' }) });
  return { response, ms: performance.now() - started };
}

/** Reads a streamed body to its end or its break; the bytes that came and whether it ended cleanly. */
async function drain(response: Response): Promise<{ bytes: number; complete: boolean }> {
  const reader = response.body!.getReader();
  let bytes = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { bytes, complete: true };
      bytes += value.byteLength;
    }
  } catch {
    return { bytes, complete: false };
  }
}

describe('HTTP routes against misbehaving upstreams', () => {
  const statusOf = { huge: 502, endless: 502, drip: 504, empty: 502 } as const;
  const codeOf = {
    huge: 'upstream_response_too_large',
    endless: 'upstream_response_too_large',
    drip: 'upstream_timeout',
    empty: 'upstream_bad_response',
  } as const;

  for (const [name, behaviour] of MISBEHAVIOURS) {
    test(`POST /v1/audio/transcriptions answers a ${name} upstream body with ${statusOf[behaviour.kind]}, then works again`, { timeout: 60_000 }, async () => {
      try {
        plan.transcription = behaviour;
        const memory = watchMemory();
        const { response, ms } = await transcribeOverHttp();
        const body = (await response.json()) as ErrorBody;
        assertMemory(memory.stop(), `${name} transcription over HTTP`);
        assert.equal(response.status, statusOf[behaviour.kind], JSON.stringify(body));
        assert.equal(body.error.code, codeOf[behaviour.kind]);
        assert.ok(body.error.message.includes(audio.baseURL), `"${body.error.message}" does not name the upstream`);
        assert.ok(ms < REQUEST_TIMEOUT_MS + SLACK_MS, `answered after ${Math.round(ms)} ms`);
        await assertUpstreamReleased(audio.answers, audio, behaviour);
        normal();
        const again = await transcribeOverHttp();
        assert.equal(again.response.status, 200);
        assert.equal(((await again.response.json()) as { text: string }).text, 'hello there');
      } finally {
        normal();
      }
    });
  }

  test("an upstream's Retry-After reaches the client as the same number in the header and the message", async () => {
    try {
      plan.transcription = { status: 429, message: 'slow down', headers: { 'retry-after': '7' } };
      const { response } = await transcribeOverHttp();
      const body = (await response.json()) as ErrorBody;
      assert.equal(response.status, 429);
      assert.equal(body.error.code, 'upstream_rate_limited');
      assert.equal(response.headers.get('retry-after'), '7');
      assert.match(body.error.message, /retry after 7 s/);
      plan.transcription = { status: 429, message: 'slow down', headers: { 'retry-after': '86400000' } };
      const clamped = await transcribeOverHttp();
      assert.equal(clamped.response.headers.get('retry-after'), '3600');
      assert.match(((await clamped.response.json()) as ErrorBody).error.message, /retry after 3600 s/);
    } finally {
      normal();
    }
  });

  for (const route of ['/v1/audio/speech', '/tts-proxy']) {
    test(`POST ${route}: an empty upstream answer is a 502 and a huge or dripping one is cut at its bound`, { timeout: 60_000 }, async () => {
      const speak = () =>
        fetch(`${server.url}${route}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'tts-1', input: 'Hello there.', voice: 'alloy', response_format: 'pcm' }),
        });
      try {
        plan.speech = { kind: 'empty' };
        const empty = await speak();
        const body = (await empty.json()) as ErrorBody;
        assert.deepEqual([empty.status, body.error.code], [502, 'upstream_bad_response']);
        assert.ok(body.error.message.includes(audio.baseURL));
        await assertUpstreamReleased(audio.answers, audio, { kind: 'empty' });

        // The first audio is out with a 200 before any bound is reached, so the bound can only cut the body short.
        plan.speech = { kind: 'huge', bytes: OFFERED_BYTES };
        const memory = watchMemory();
        const huge = await speak();
        assert.equal(huge.status, 200);
        const hugeBody = await drain(huge);
        assertMemory(memory.stop(), `huge speech over ${route}`);
        assert.equal(hugeBody.complete, false, 'the body ended as if complete');
        assert.ok(hugeBody.bytes <= MAX_RESPONSE_AUDIO_MS * 48, `${hugeBody.bytes} bytes of audio for a ${MAX_RESPONSE_AUDIO_MS} ms bound`);
        await assertUpstreamReleased(audio.answers, audio, { kind: 'huge', bytes: OFFERED_BYTES });

        plan.speech = { kind: 'drip', everyMs: 200 };
        const started = performance.now();
        const dripping = await speak();
        assert.equal(dripping.status, 200);
        const dripBody = await drain(dripping);
        const ms = performance.now() - started;
        assert.equal(dripBody.complete, false, 'the body ended as if complete');
        assert.ok(ms < RESPONSE_TIMEOUT_MS + SLACK_MS, `cut after ${Math.round(ms)} ms`);
        await assertUpstreamReleased(audio.answers, audio, { kind: 'drip', everyMs: 200 });

        normal();
        const fine = await speak();
        assert.equal(fine.status, 200);
        const fineBody = await drain(fine);
        assert.equal(fineBody.complete, true);
        assert.equal(fineBody.bytes, 'Hello there.'.length * 20 * 48);
      } finally {
        normal();
      }
    });
  }

  test(
    'POST /upload reports an endless or dripping translation and a huge or dripping diarization in its body, then works again',
    { timeout: 60_000 },
    async () => {
      const upload = async () => {
        const response = await fetch(`${server.url}/upload`, { method: 'POST', body: form({ target_lang: 'fr', primary_lang: 'fr' }) });
        assert.equal(response.status, 200);
        return (await response.json()) as Record<string, unknown>;
      };
      try {
        plan.chat = { misbehave: { kind: 'endless' } };
        plan.diarization = { kind: 'huge', bytes: OFFERED_BYTES };
        const memory = watchMemory();
        const first = await upload();
        assertMemory(memory.stop(), 'endless translation and huge diarization');
        assert.equal(first.transcription, 'hello there');
        assert.match(String(first.translation_fr_error), new RegExp(`${chat.baseURL}.*more than \\d+ characters`));
        assert.match(String(first.diarization_error), /more than 8388608 bytes/);
        await assertUpstreamReleased(chat.misbehaved, chat, { kind: 'endless' });
        await assertUpstreamReleased(
          audio.answers.filter((answer) => answer.route === '/diarize'),
          audio,
          { kind: 'huge', bytes: OFFERED_BYTES },
        );

        plan.chat = { misbehave: { kind: 'drip', everyMs: 200 } };
        plan.diarization = { kind: 'drip', everyMs: 200 };
        const started = performance.now();
        const second = await upload();
        assert.ok(performance.now() - started < RESPONSE_TIMEOUT_MS + SLACK_MS, 'the upload waited past RESPONSE_TIMEOUT');
        assert.match(String(second.translation_fr_error), /RESPONSE_TIMEOUT/);
        assert.ok(String(second.translation_fr_error).includes(chat.baseURL));
        assert.match(String(second.diarization_error), /REQUEST_TIMEOUT/);
        await assertUpstreamReleased(chat.misbehaved, chat, { kind: 'drip', everyMs: 200 });
        await assertUpstreamReleased(
          audio.answers.filter((answer) => answer.route === '/diarize'),
          audio,
          { kind: 'drip', everyMs: 200 },
        );

        normal();
        const third = await upload();
        assert.equal(third.translation_fr, 'Fine, thanks.');
        assert.deepEqual(third.diarization, { segments: [{ start: 0, end: 1, speaker: 'SPEAKER_00' }] });
      } finally {
        normal();
      }
    },
  );
});
