/**
 * The official `openai` SDK's OpenAIRealtimeWS, unchanged, against the real server over wss
 * (a self-signed certificate made now, trusted through the client's ws options), on real
 * engines: WebRTC VAD, pocketsphinx with a JSGF grammar, the echo responder and espeak-ng.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { rmsDbfs, durationMs } from '../../src/audio/pcm.ts';
import { resample } from '../../src/audio/resample.ts';
import { EchoResponder } from '../../src/providers/local/echo-responder.ts';
import { EspeakSynthesizer } from '../../src/providers/local/espeak-synthesizer.ts';
import { createPocketsphinxTranscriber, type PocketsphinxTranscriber } from '../../src/providers/local/pocketsphinx-transcriber.ts';
import {
  EventLog,
  insecureFetch,
  joinedPcm,
  pcmFrames,
  selfSignedCertificate,
  spoken,
  streamRealtime,
  withSilence,
  type SelfSignedCertificate,
  type WireEvent,
} from './realtime-harness.ts';
import { assembleProviders, startTestServer, type TestServer } from '../helpers/server.ts';

const TOKEN = 'sdk-test-token';
const PHRASES = ['turn on the kitchen lights', 'open the garage door', 'what time is it', 'turn off the bedroom fan'];
const GRAMMAR = `public <command> = ${PHRASES.join(' | ')};`;

let certificate: SelfSignedCertificate;
let synthesizer: EspeakSynthesizer;
let transcriber: PocketsphinxTranscriber;
let server: TestServer;

before(async () => {
  certificate = await selfSignedCertificate();
  synthesizer = await EspeakSynthesizer.create({ workers: 1 });
  transcriber = await createPocketsphinxTranscriber({ grammar: GRAMMAR, timeoutMs: 20_000 });
  server = await startTestServer(assembleProviders({ transcriber, responder: new EchoResponder(), synthesizer }), {
    TLS_CERT: certificate.certPath,
    TLS_KEY: certificate.keyPath,
    API_TOKENS: TOKEN,
  });
});

after(async () => {
  await server?.close();
  await synthesizer?.close();
  await certificate?.remove();
});

interface SdkSession {
  rt: OpenAIRealtimeWS;
  log: EventLog;
  errors: Error[];
}

/** An SDK realtime session; `apiKey` may be a client secret, whose session the connection opens. */
async function connect(apiKey = TOKEN): Promise<SdkSession> {
  assert.match(server.url, /^https:/, 'the server runs TLS');
  const client = new OpenAI({ apiKey, baseURL: `${server.url}/v1` });
  // The SDK passes `options` to ws, so the test certificate is trusted for this socket only.
  const rt = new OpenAIRealtimeWS({ model: 'gpt-realtime', options: { ca: certificate.cert } }, client);
  const log = new EventLog();
  const errors: Error[] = [];
  rt.on('event', (event) => log.push(event as unknown as WireEvent));
  rt.on('error', (error) => errors.push(error));
  await once(rt.socket, 'open');
  assert.equal(rt.url.protocol, 'wss:');
  await log.next('session.created');
  return { rt, log, errors };
}

async function close({ rt }: SdkSession): Promise<void> {
  const closed = once(rt.socket, 'close');
  rt.close();
  await closed;
}

/** A phrase spoken by espeak now, at 24 kHz, with silence around it so VAD sees it start and end. */
async function utterance(text: string): Promise<string[]> {
  return pcmFrames(withSilence(await spoken(synthesizer, text), 300, 900));
}

test('a spoken turn with server VAD: speech started/stopped, committed, the exact transcript, a spoken answer', async () => {
  const session = await connect();
  const { rt, log } = session;
  rt.send({
    type: 'session.update',
    session: {
      type: 'realtime',
      output_modalities: ['audio'],
      audio: {
        input: {
          format: { type: 'audio/pcm', rate: 24000 },
          transcription: { model: 'whisper-1', language: 'en' },
          turn_detection: { type: 'server_vad', silence_duration_ms: 500, prefix_padding_ms: 100 },
        },
        output: { format: { type: 'audio/pcm', rate: 24000 }, voice: 'alloy' },
      },
    },
  });
  await log.next('session.updated');
  const phrase = PHRASES[0];
  const frames = await utterance(phrase);
  await streamRealtime((audio) => rt.send({ type: 'input_audio_buffer.append', audio }), frames);
  const sentMs = frames.length * 20;

  const started = await log.next('input_audio_buffer.speech_started');
  const stopped = await log.next('input_audio_buffer.speech_stopped');
  const committed = await log.next('input_audio_buffer.committed');
  const transcript = await log.next('conversation.item.input_audio_transcription.completed', 10_000);
  const done = await log.next('response.done', 15_000);
  assert.deepEqual([stopped.item_id, committed.item_id, transcript.item_id], [started.item_id, started.item_id, started.item_id]);
  assert.ok(log.indexOf(started) < log.indexOf(stopped) && log.indexOf(stopped) < log.indexOf(committed));
  // As OpenAI defines them: the start includes the 100 ms prefix padding (speech begins after 300 ms of
  // silence), the end includes the 500 ms of silence that ended the turn, within the audio sent.
  assert.ok(started.audio_start_ms >= 200 && started.audio_start_ms < 600, `speech_started.audio_start_ms ${started.audio_start_ms}`);
  assert.ok(
    stopped.audio_end_ms >= started.audio_start_ms + 100 + 500 && stopped.audio_end_ms <= sentMs,
    `turn audio ${started.audio_start_ms}–${stopped.audio_end_ms} ms of ${sentMs} ms sent`,
  );
  assert.equal(transcript.transcript, phrase);

  assert.equal(done.response.status, 'completed');
  const answer = done.response.output.find((item: { type: string }) => item.type === 'message');
  assert.equal(answer.content[0].type, 'output_audio');
  assert.equal(answer.content[0].transcript, phrase, 'the echo responder says the transcript back');
  const transcriptDeltas = log.events.filter((event) => event.type === 'response.output_audio_transcript.delta' && event.response_id === done.response.id);
  assert.equal(transcriptDeltas.map((event) => event.delta).join(''), phrase);
  const audio = joinedPcm(log.events.filter((event) => event.type === 'response.output_audio.delta' && event.response_id === done.response.id));
  assert.ok(durationMs(audio) > 700, `a spoken answer: ${durationMs(audio)} ms`);
  assert.ok(rmsDbfs(audio.samples) > -35, `not silence: ${rmsDbfs(audio.samples).toFixed(1)} dBFS`);
  // The answer's audio says the phrase: pocketsphinx hears it back.
  const heardBack = await transcriber.transcribe(await resample(audio, 16000));
  assert.equal(heardBack.text, phrase);
  assert.equal((await log.next('rate_limits.updated', 1000, log.indexOf(done))).type, 'rate_limits.updated');
  assert.deepEqual(session.errors, []);
  await close(session);
});

test('a text-only turn: conversation.item.create with input_text, then response.create with output_modalities text', async () => {
  const session = await connect();
  const { rt, log } = session;
  rt.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'what time is it' }] } });
  const added = await log.next('conversation.item.added');
  assert.deepEqual(added.item.content, [{ type: 'input_text', text: 'what time is it' }]);
  rt.send({ type: 'response.create', response: { output_modalities: ['text'] } });
  const done = await log.next('response.done', 10_000);
  assert.equal(done.response.status, 'completed');
  assert.deepEqual(done.response.output_modalities, ['text']);
  const textDone = await log.next('response.output_text.done');
  assert.equal(textDone.text, 'what time is it');
  const deltas = log.events.filter((event) => event.type === 'response.output_text.delta');
  assert.equal(deltas.map((event) => event.delta).join(''), 'what time is it');
  for (const delta of deltas)
    assert.deepEqual([delta.response_id, delta.item_id, delta.output_index, delta.content_index], [done.response.id, textDone.item_id, 0, 0]);
  assert.equal(log.types().includes('response.output_audio.delta'), false, 'no audio in a text response');
  assert.deepEqual(session.errors, []);
  await close(session);
});

test('a transcription session: speech in, the exact transcript out, no responses', async () => {
  // OpenAIRealtimeWS always sends ?model=, which opens a realtime session; a transcription session comes from a transcription client secret.
  const backend = new OpenAI({ apiKey: TOKEN, baseURL: `${server.url}/v1`, fetch: insecureFetch });
  const secret = await backend.realtime.clientSecrets.create({ session: { type: 'transcription' } });
  const session = await connect(secret.value);
  const { rt, log } = session;
  assert.equal((await log.next('session.created')).session.type, 'transcription');
  rt.send({
    type: 'session.update',
    session: {
      type: 'transcription',
      audio: {
        input: {
          format: { type: 'audio/pcm', rate: 24000 },
          transcription: { model: 'gpt-4o-transcribe', language: 'en' },
          turn_detection: { type: 'server_vad', silence_duration_ms: 500 },
        },
      },
    },
  });
  const updated = await log.next('session.updated');
  assert.equal(updated.session.type, 'transcription');
  const phrase = PHRASES[1];
  await streamRealtime((audio) => rt.send({ type: 'input_audio_buffer.append', audio }), await utterance(phrase));
  const transcript = await log.next('conversation.item.input_audio_transcription.completed', 10_000);
  assert.equal(transcript.transcript, phrase);

  const before = log.events.length;
  rt.send({ type: 'response.create', event_id: 'no_responses_here' });
  const refusal = await log.next('error', 5000, before);
  assert.equal(refusal.error.event_id, 'no_responses_here');
  assert.equal(log.types().includes('response.created'), false, 'a transcription session never answers');
  await close(session);
});
