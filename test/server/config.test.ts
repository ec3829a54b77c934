import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpeechbridgeError } from '../../src/engine/errors.ts';
import { loadConfig } from '../../src/server/config.ts';

test('with nothing configured the gateway runs on its embedded engines with the seeds\' defaults', () => {
  const config = loadConfig({});
  assert.equal(config.server.host, '0.0.0.0');
  assert.equal(config.server.port, 8080);
  assert.equal(config.asr.engine, 'whisper');
  assert.equal(config.asr.whisperModel, 'base.en');
  assert.equal(config.llm.engine, 'echo');
  assert.equal(config.tts.engine, 'espeak');
  assert.equal(config.vad.engine, 'webrtc');
  assert.deepEqual(
    [config.vad.aggressiveness, config.vad.startMs, config.vad.endMs, config.vad.padMs, config.vad.maxMs],
    [2, 120, 450, 180, 5000],
  );
  assert.deepEqual(config.apiTokens, []);
  assert.equal(config.requestTimeoutMs, 30_000);
});

test('upstream URLs switch engines to the OpenAI-compatible providers', () => {
  const config = loadConfig({
    WHISPER_URL: 'http://asr:9000/v1',
    OPENAI_API_BASE: 'http://llm:8000/v1',
    TTS_API_URL: 'http://tts:8880/v1',
    API_TOKENS: 'a, b ,,c',
    REQUEST_TIMEOUT: '2.5',
  });
  assert.equal(config.asr.engine, 'openai');
  assert.equal(config.llm.engine, 'openai');
  assert.equal(config.tts.engine, 'openai');
  assert.deepEqual(config.apiTokens, ['a', 'b', 'c']);
  assert.equal(config.requestTimeoutMs, 2500);
});

test('every invalid variable is reported together, by name, with what is wrong', () => {
  assert.throws(
    () => loadConfig({ SERVER_PORT: 'eighty', VAD_AGGR: '7', ASR_ENGINE: 'kaldi' }),
    (error: unknown) => {
      assert.ok(error instanceof SpeechbridgeError);
      assert.equal(error.code, 'invalid_config');
      assert.match(error.message, /SERVER_PORT="eighty"/);
      assert.match(error.message, /VAD_AGGR="7"/);
      assert.match(error.message, /ASR_ENGINE="kaldi"/);
      return true;
    },
  );
});

test('engine choices that lack their upstream say what to set', () => {
  assert.throws(() => loadConfig({ TTS_ENGINE: 'openai' }), /TTS_API_URL/);
  assert.throws(() => loadConfig({ ASR_ENGINE: 'openai' }), /WHISPER_URL/);
  assert.throws(() => loadConfig({ TLS_CERT: 'cert.pem' }), /TLS_CERT and TLS_KEY/);
});

test('empty values count as unset', () => {
  const config = loadConfig({ SERVER_PORT: '', OPENAI_API_KEY: '  ' });
  assert.equal(config.server.port, 8080);
  assert.equal(config.llm.engine, 'echo');
});

test('upstream answer bounds have documented defaults, scale with REQUEST_TIMEOUT, and each variable overrides one', () => {
  assert.deepEqual(loadConfig({}).limits, {
    requestTimeoutMs: 30_000,
    responseTimeoutMs: 120_000,
    maxTranscriptionBytes: 1024 * 1024,
    maxResponseChars: 16_000,
    maxResponseTokens: 4096,
    maxSentenceAudioMs: 60_000,
    maxResponseAudioMs: 300_000,
  });
  assert.equal(loadConfig({ REQUEST_TIMEOUT: '5' }).limits.responseTimeoutMs, 20_000);
  assert.deepEqual(
    loadConfig({
      REQUEST_TIMEOUT: '5',
      RESPONSE_TIMEOUT: '7.5',
      MAX_TRANSCRIPTION_KB: '256',
      MAX_RESPONSE_CHARS: '2000',
      MAX_RESPONSE_TOKENS: '0',
      MAX_SENTENCE_AUDIO_SECONDS: '20',
      MAX_RESPONSE_AUDIO_SECONDS: '90',
    }).limits,
    { requestTimeoutMs: 5000, responseTimeoutMs: 7500, maxTranscriptionBytes: 256 * 1024, maxResponseChars: 2000, maxResponseTokens: 0, maxSentenceAudioMs: 20_000, maxResponseAudioMs: 90_000 },
  );
  assert.throws(
    () => loadConfig({ REQUEST_TIMEOUT: '30', RESPONSE_TIMEOUT: '10' }),
    (error: unknown) => error instanceof SpeechbridgeError && error.code === 'invalid_config' && /RESPONSE_TIMEOUT: 10 s is shorter than REQUEST_TIMEOUT \(30 s\)/.test(error.message),
  );
  assert.throws(() => loadConfig({ MAX_RESPONSE_CHARS: 'lots' }), /MAX_RESPONSE_CHARS/);
});
