/**
 * POST /upload on real engines: pocketsphinx transcribes a real recording (keyword spotting,
 * so the words can be checked) or a phrase spoken at test time (a grammar); the LLM is the real
 * OpenAIResponder, built from OPENAI_API_BASE as the server builds it, against a local
 * OpenAI-compatible chat completions server that records what it was asked.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import type { RunningServer } from '../../../src/server/app.ts';
import { loadConfig } from '../../../src/server/config.ts';
import { buildResponder } from '../../../src/server/provider-factory.ts';
import { createPocketsphinxTranscriber } from '../../../src/providers/local/pocketsphinx-transcriber.ts';
import { ScriptedTranscriber } from '../../../src/providers/testing/scripted-transcriber.ts';
import { messagesOf, startChatCompletionsUpstream, type ChatCompletionsUpstream } from '../../helpers/chat-completions-upstream.ts';
import { startTestServer } from '../../helpers/server.ts';
import { sharedAudioPath } from '../../helpers/shared.ts';
import { COMMAND_GRAMMAR, requireTool, speakPhrase } from '../../helpers/spoken.ts';

const run = promisify(execFile);

/** What the stand-in LLM answers: a marker naming the language it was asked for, then the text. */
function translationFor(system: string, text: string): string {
  const language = /into (\w+)/.exec(system)?.[1] ?? 'nothing';
  return `[${language}] ${text}`;
}

let llm: ChatCompletionsUpstream;
let gateway: RunningServer;
let echoGateway: RunningServer;
let birchWav: Buffer;

before(async () => {
  await requireTool('pocketsphinx_continuous', 'apt-get install pocketsphinx pocketsphinx-en-us');
  await requireTool('ffmpeg', 'apt-get install ffmpeg');
  llm = await startChatCompletionsUpstream({
    reply: (request) => {
      const system = messagesOf(request, 'system')[0] ?? '';
      if (/into Spanish/.test(system)) return { status: 500, message: 'the Spanish model is overloaded' };
      return translationFor(system, messagesOf(request, 'user').at(-1) ?? '');
    },
  });
  // Two-word keyphrases are spotted reliably in the shared recordings (see the pocketsphinx tests).
  const keywords = await createPocketsphinxTranscriber({ keywords: ['birch canoe', 'smooth planks'], timeoutMs: 30_000 });
  const config = loadConfig({ OPENAI_API_BASE: llm.baseURL, OPENAI_API_MODEL: 'translator-model', REQUEST_TIMEOUT: '20' });
  gateway = await startTestServer({ transcriber: keywords, responder: buildResponder(config) });
  echoGateway = await startTestServer({ transcriber: await createPocketsphinxTranscriber({ grammar: COMMAND_GRAMMAR, timeoutMs: 30_000 }) });
  birchWav = await readFile(sharedAudioPath('en_harvard_birch_canoe.wav'));
});

after(async () => {
  await gateway?.close();
  await echoGateway?.close();
  await llm?.close();
});

async function upload(server: RunningServer, bytes: Buffer, filename: string, fields: Record<string, string> = {}): Promise<Response> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(bytes)]), filename);
  for (const [key, value] of Object.entries(fields)) form.set(key, value);
  return fetch(`${server.url}/upload`, { method: 'POST', body: form });
}

async function uploadJson(server: RunningServer, bytes: Buffer, filename: string, fields: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const response = await upload(server, bytes, filename, fields);
  const body = (await response.json()) as Record<string, unknown>;
  assert.equal(response.status, 200, JSON.stringify(body));
  assert.match(response.headers.get('content-type') ?? '', /application\/json/);
  return body;
}

/** The recording re-encoded by ffmpeg, as a browser or a phone would send it. */
async function convert(wav: string, format: 'webm' | 'mp3'): Promise<Buffer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-upload-'));
  const out = path.join(dir, `audio.${format}`);
  // 64 kbps: MediaRecorder's Opus default is higher still; at 32 kbps this 3.3 s clip would fall under the 16 KB minimum.
  const codec = format === 'webm' ? ['-c:a', 'libopus', '-b:a', '64k'] : ['-c:a', 'libmp3lame', '-b:a', '64k'];
  await run('ffmpeg', ['-v', 'error', '-y', '-i', wav, ...codec, out]);
  return readFile(out);
}

test('a real recording is transcribed and translated into French by the LLM; a repeat costs no LLM call', async () => {
  const before = llm.requests.length;
  const body = await uploadJson(gateway, birchWav, 'birch.wav');
  assert.deepEqual(Object.keys(body).sort(), ['detected_lang', 'transcription', 'translation_fr']);
  assert.equal(body.detected_lang, 'en');
  assert.match(String(body.transcription), /birch canoe/);
  assert.equal(body.translation_fr, `[French] ${body.transcription}`);

  assert.equal(llm.requests.length, before + 1, 'primary_lang and target_lang both default to fr: one translation');
  const asked = llm.requests.at(-1)!;
  assert.equal(asked.model, 'translator-model');
  assert.match(messagesOf(asked, 'system')[0], /Translate the user's text into French/);
  assert.deepEqual(messagesOf(asked, 'user'), [body.transcription]);

  const again = await uploadJson(gateway, birchWav, 'birch.wav');
  assert.deepEqual(again, body);
  assert.equal(llm.requests.length, before + 1, 'the second identical upload was served from the translation cache');
});

test('WebM/Opus and MP3 uploads of the same recording give the same words', async () => {
  const wav = sharedAudioPath('en_harvard_birch_canoe.wav');
  for (const format of ['webm', 'mp3'] as const) {
    const bytes = await convert(wav, format);
    assert.ok(bytes.length >= 16 * 1024, `${format} fixture is ${bytes.length} bytes`);
    const body = await uploadJson(gateway, bytes, `birch.${format}`);
    assert.match(String(body.transcription), /birch canoe/, format);
    assert.equal(body.detected_lang, 'en', format);
    assert.equal(body.translation_fr, `[French] ${body.transcription}`, format);
  }
});

test('primary and target languages equal to the detected one: no translation and no LLM call', async () => {
  const before = llm.requests.length;
  const body = await uploadJson(gateway, birchWav, 'birch.wav', { primary_lang: 'en', target_lang: 'english' });
  assert.deepEqual(Object.keys(body).sort(), ['detected_lang', 'transcription']);
  assert.equal(body.detected_lang, 'en');
  assert.equal(llm.requests.length, before);
});

test('a target language other than the primary one gets its own translation key', async () => {
  const body = await uploadJson(gateway, birchWav, 'birch.wav', { primary_lang: 'en', target_lang: 'de' });
  assert.deepEqual(Object.keys(body).sort(), ['detected_lang', 'transcription', 'translation_de']);
  assert.equal(body.translation_de, `[German] ${body.transcription}`);
  assert.match(messagesOf(llm.requests.at(-1)!, 'system')[0], /into German/);
});

test('a failed translation is reported for its language; the others and the transcription still arrive', async () => {
  const response = await upload(gateway, birchWav, 'birch.wav', { primary_lang: 'fr', target_lang: 'es' });
  assert.equal(response.status, 200);
  const body = (await response.json()) as Record<string, unknown>;
  assert.match(String(body.transcription), /birch canoe/);
  assert.equal(body.translation_fr, `[French] ${body.transcription}`);
  assert.equal(body.translation_es, undefined);
  assert.match(String(body.translation_es_error), /HTTP 500.*Spanish model is overloaded/);

  // Failures are not cached: the next upload asks again.
  const before = llm.requests.length;
  await upload(gateway, birchWav, 'birch.wav', { primary_lang: 'fr', target_lang: 'es' }).then((next) => next.arrayBuffer());
  assert.equal(llm.requests.length, before + 1);
});

test('with the echo responder (no LLM configured) the translation is the transcribed phrase itself', async () => {
  const { bytes } = await speakPhrase('turn on the light');
  const body = await uploadJson(echoGateway, bytes, 'phrase.wav', { target_lang: 'de' });
  assert.equal(body.transcription, 'turn on the light');
  assert.equal(body.detected_lang, 'en');
  assert.equal(body.translation_fr, 'turn on the light');
  assert.equal(body.translation_de, 'turn on the light');
});

test('a transcriber that detects the language decides detected_lang, and so which translations are needed', async () => {
  const french = new ScriptedTranscriber({ texts: 'le canoë de bouleau', language: 'fr' });
  const server = await startTestServer({ transcriber: french, responder: buildResponder(loadConfig({ OPENAI_API_BASE: llm.baseURL })) });
  try {
    const before = llm.requests.length;
    const body = await uploadJson(server, birchWav, 'birch.wav', { target_lang: 'en' });
    assert.equal(body.detected_lang, 'fr');
    assert.deepEqual(Object.keys(body).sort(), ['detected_lang', 'transcription', 'translation_en']);
    assert.equal(body.translation_en, '[English] le canoë de bouleau');
    assert.equal(llm.requests.length, before + 1);
  } finally {
    await server.close();
  }
});

test('MAX_CACHE_SIZE bounds the translation cache: least recently used entries are asked again, 0 caches nothing', async () => {
  const texts = ['le canoë de bouleau', 'les planches lisses'];
  const alternating = new ScriptedTranscriber({ texts: (_audio, index) => texts[index % 2], language: 'fr' });
  const one = await startTestServer(
    { transcriber: alternating, responder: buildResponder(loadConfig({ OPENAI_API_BASE: llm.baseURL })) },
    { MAX_CACHE_SIZE: '1' },
  );
  const none = await startTestServer(
    {
      transcriber: new ScriptedTranscriber({ texts: 'le canoë de bouleau', language: 'fr' }),
      responder: buildResponder(loadConfig({ OPENAI_API_BASE: llm.baseURL })),
    },
    { MAX_CACHE_SIZE: '0' },
  );
  try {
    const start = llm.requests.length;
    const fields = { primary_lang: 'it', target_lang: 'it' };
    await uploadJson(one, birchWav, 'a.wav', fields); // canoë: asked.
    await uploadJson(one, birchWav, 'b.wav', fields); // planches: asked, and canoë is evicted.
    const third = await uploadJson(one, birchWav, 'a.wav', fields); // canoë again: asked again.
    assert.equal(third.translation_it, '[Italian] le canoë de bouleau');
    assert.equal(llm.requests.length, start + 3);

    await uploadJson(none, birchWav, 'a.wav', fields);
    await uploadJson(none, birchWav, 'a.wav', fields);
    assert.equal(llm.requests.length, start + 5, 'MAX_CACHE_SIZE=0: every upload asks');
  } finally {
    await one.close();
    await none.close();
  }
});
