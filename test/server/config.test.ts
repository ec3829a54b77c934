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
  assert.equal(config.metricsPublic, false, '/metrics is behind the token unless asked');
  assert.equal(config.requestTimeoutMs, 30_000);
});

test('METRICS_PUBLIC takes a yes/no flag', () => {
  assert.equal(loadConfig({ METRICS_PUBLIC: 'true' }).metricsPublic, true);
  assert.equal(loadConfig({ METRICS_PUBLIC: 'no' }).metricsPublic, false);
  assert.throws(() => loadConfig({ METRICS_PUBLIC: 'maybe' }), /METRICS_PUBLIC="maybe"/);
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
