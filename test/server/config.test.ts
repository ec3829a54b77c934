import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import { loadConfig } from '../../src/server/config.ts';

test("with nothing configured the gateway runs on its embedded engines with the seeds' defaults", () => {
  const config = loadConfig({});
  assert.equal(config.server.host, '0.0.0.0');
  assert.equal(config.server.port, 8080);
  assert.equal(config.asr.engine, 'whisper');
  assert.equal(config.asr.whisperModel, 'base.en');
  assert.equal(config.llm.engine, 'echo');
  assert.equal(config.tts.engine, 'espeak');
  assert.equal(config.vad.engine, 'webrtc');
  assert.deepEqual([config.vad.aggressiveness, config.vad.startMs, config.vad.endMs, config.vad.padMs, config.vad.maxMs], [2, 120, 450, 180, 5000]);
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
    {
      requestTimeoutMs: 5000,
      responseTimeoutMs: 7500,
      maxTranscriptionBytes: 256 * 1024,
      maxResponseChars: 2000,
      maxResponseTokens: 0,
      maxSentenceAudioMs: 20_000,
      maxResponseAudioMs: 90_000,
    },
  );
  assert.throws(
    () => loadConfig({ REQUEST_TIMEOUT: '30', RESPONSE_TIMEOUT: '10' }),
    (error: unknown) =>
      error instanceof SpeechbridgeError &&
      error.code === 'invalid_config' &&
      /RESPONSE_TIMEOUT: 10 s is shorter than REQUEST_TIMEOUT \(30 s\)/.test(error.message),
  );
  assert.throws(() => loadConfig({ MAX_RESPONSE_CHARS: 'lots' }), /MAX_RESPONSE_CHARS/);
});

test('WHISPER_URL and TTS_API_URL work as the API root or as the full endpoint, with or without a trailing slash', () => {
  for (const [whisper, tts] of [
    ['https://asr.example.com/v1', 'https://tts.example.com/v1'],
    ['https://asr.example.com/v1/', 'https://tts.example.com/v1/'],
    ['https://asr.example.com/v1/audio/transcriptions', 'https://tts.example.com/v1/audio/speech'],
    ['https://asr.example.com/v1/audio/transcriptions/', 'https://tts.example.com/v1/audio/speech/'],
  ]) {
    const config = loadConfig({ WHISPER_URL: whisper, TTS_API_URL: tts });
    assert.equal(config.asr.url, 'https://asr.example.com/v1', whisper);
    assert.equal(config.tts.url, 'https://tts.example.com/v1', tts);
  }
  // A root without a path, and a port, survive as they are.
  assert.equal(loadConfig({ WHISPER_URL: 'http://asr:9000/audio/transcriptions' }).asr.url, 'http://asr:9000');
  assert.equal(loadConfig({ OPENAI_API_BASE: 'http://llm:8000/v1/' }).llm.baseURL, 'http://llm:8000/v1');
});

test('an upstream URL that is not an http(s) URL is refused at start-up, naming the variable and an example', () => {
  assert.throws(
    () => loadConfig({ WHISPER_URL: 'asr:9000/v1', TTS_API_URL: 'ftp://tts/v1/audio/speech' }),
    (error: unknown) => {
      assert.ok(error instanceof SpeechbridgeError);
      assert.equal(error.code, 'invalid_config');
      assert.match(error.message, /WHISPER_URL="asr:9000\/v1": .*https:\/\/api\.openai\.com\/v1\/audio\/transcriptions/);
      assert.match(error.message, /TTS_API_URL="ftp:\/\/tts\/v1\/audio\/speech": must be an http:\/\/ or https:\/\/ URL/);
      return true;
    },
  );
});

test("other deployments' names are read as aliases: PORT, MODEL_NAME, DEFAULT_VAD_AGGR, OPENAI_MODEL, OPENAI_BASE_URL", () => {
  const config = loadConfig({ PORT: '9001', MODEL_NAME: 'small.en', DEFAULT_VAD_AGGR: '3', OPENAI_MODEL: 'llama3', OPENAI_BASE_URL: 'http://llm:8000/v1' });
  assert.equal(config.server.port, 9001);
  assert.equal(config.asr.whisperModel, 'small.en');
  assert.equal(config.vad.aggressiveness, 3);
  assert.equal(config.llm.model, 'llama3');
  assert.equal(config.llm.baseURL, 'http://llm:8000/v1');
  assert.equal(config.llm.engine, 'openai', 'OPENAI_BASE_URL picks the OpenAI-compatible LLM as OPENAI_API_BASE does');
  assert.deepEqual(config.warnings, []);
});

test("when both names are set, speechbridge's own wins and a warning names both", () => {
  const config = loadConfig({
    SERVER_PORT: '8080',
    PORT: '3000',
    VAD_AGGR: '1',
    DEFAULT_VAD_AGGR: '3',
    WHISPER_MODEL: 'tiny.en',
    MODEL_NAME: 'large-v3',
    OPENAI_API_MODEL: 'a',
    OPENAI_MODEL: 'b',
  });
  assert.equal(config.server.port, 8080);
  assert.equal(config.vad.aggressiveness, 1);
  assert.equal(config.asr.whisperModel, 'tiny.en');
  assert.equal(config.llm.model, 'a');
  assert.equal(config.warnings.length, 4);
  assert.match(config.warnings.join('\n'), /SERVER_PORT=8080 and PORT=3000 are both set; SERVER_PORT is used/);
  assert.match(config.warnings.join('\n'), /VAD_AGGR=1 and DEFAULT_VAD_AGGR=3 are both set; VAD_AGGR is used/);
  // The same value under both names is no conflict.
  assert.deepEqual(loadConfig({ VAD_AGGR: '3', DEFAULT_VAD_AGGR: '3' }).warnings, []);
});

test('an invalid alias is reported under the name that was set', () => {
  assert.throws(
    () => loadConfig({ DEFAULT_VAD_AGGR: '9', PORT: 'http' }),
    (error: unknown) => {
      assert.ok(error instanceof SpeechbridgeError);
      assert.match(error.message, /DEFAULT_VAD_AGGR="9"/);
      assert.match(error.message, /PORT="http"/);
      assert.doesNotMatch(error.message, /\sVAD_AGGR=|SERVER_PORT/);
      return true;
    },
  );
});

test('GATEWAY_HOST / GATEWAY_PORT open the extra gateway listener (port 8765 by default); the main port is refused', () => {
  assert.equal(loadConfig({}).server.gatewayListener, undefined);
  assert.deepEqual(loadConfig({ GATEWAY_HOST: '127.0.0.1' }).server.gatewayListener, { host: '127.0.0.1', port: 8765 });
  assert.deepEqual(loadConfig({ SERVER_NAME: '10.0.0.2', GATEWAY_PORT: '9000' }).server.gatewayListener, { host: '10.0.0.2', port: 9000 });
  assert.throws(() => loadConfig({ SERVER_PORT: '8765', GATEWAY_HOST: '0.0.0.0' }), /GATEWAY_PORT=8765: the main port \(SERVER_PORT\) is 8765 too/);
  assert.throws(() => loadConfig({ GATEWAY_PORT: '70000' }), /GATEWAY_PORT="70000"/);
});

test("OPENAI_PROMPT is the gateway door's rewrite prompt", () => {
  assert.equal(loadConfig({ OPENAI_PROMPT: 'Fix the grammar.' }).llm.rewritePrompt, 'Fix the grammar.');
  assert.equal(loadConfig({}).llm.rewritePrompt, undefined);
});

test("LOG_LEVEL in any case, with Python's names (a Python service's .env says LOG_LEVEL=DEBUG or WARNING)", () => {
  assert.equal(loadConfig({ LOG_LEVEL: 'DEBUG' }).logLevel, 'debug');
  assert.equal(loadConfig({ LOG_LEVEL: 'WARNING' }).logLevel, 'warn');
  assert.equal(loadConfig({ LOG_LEVEL: 'Critical' }).logLevel, 'fatal');
  assert.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), /LOG_LEVEL="loud"/);
});

test('Gradium: ASR_ENGINE / TTS_ENGINE=gradium with its variables and documented defaults', () => {
  const config = loadConfig({ ASR_ENGINE: 'gradium', TTS_ENGINE: 'gradium', GRADIUM_API_KEY: 'gd-key' });
  assert.equal(config.asr.engine, 'gradium');
  assert.equal(config.tts.engine, 'gradium');
  assert.deepEqual(config.gradium, {
    apiKey: 'gd-key',
    baseURL: 'wss://api.gradium.ai/api',
    sttModel: 'default',
    sttInputFormat: 'pcm',
    ttsModel: 'default',
    ttsVoiceId: 'YTpq7expH9539ERJ',
    ttsOutputFormat: 'pcm',
  });
  assert.deepEqual(config.warnings, []);
  // The base URL as a region root, an https URL, a bare host or an endpoint all name the API root.
  for (const [value, root] of [
    ['wss://eu.api.gradium.ai/api', 'wss://eu.api.gradium.ai/api'],
    ['https://us.api.gradium.ai/api/', 'wss://us.api.gradium.ai/api'],
    ['wss://eu.api.gradium.ai', 'wss://eu.api.gradium.ai/api'],
    ['wss://eu.api.gradium.ai/api/speech/asr', 'wss://eu.api.gradium.ai/api'],
    ['ws://127.0.0.1:9000/api', 'ws://127.0.0.1:9000/api'],
  ]) {
    assert.equal(loadConfig({ ASR_ENGINE: 'gradium', GRADIUM_API_KEY: 'k', GRADIUM_BASE_URL: value }).gradium.baseURL, root, value);
  }
});

test('Gradium: a missing key, a container format or a bad base URL is refused by name', () => {
  assert.throws(
    () => loadConfig({ ASR_ENGINE: 'gradium', TTS_ENGINE: 'gradium' }),
    /GRADIUM_API_KEY: ASR_ENGINE=gradium and TTS_ENGINE=gradium need the Gradium API key/,
  );
  assert.throws(
    () => loadConfig({ TTS_ENGINE: 'gradium', GRADIUM_API_KEY: 'k', GRADIUM_TTS_OUTPUT_FORMAT: 'opus' }),
    /GRADIUM_TTS_OUTPUT_FORMAT="opus": use one of pcm, pcm_8000, pcm_16000, pcm_24000, ulaw_8000, alaw_8000/,
  );
  assert.throws(() => loadConfig({ ASR_ENGINE: 'gradium', GRADIUM_API_KEY: 'k', GRADIUM_STT_INPUT_FORMAT: 'wav' }), /GRADIUM_STT_INPUT_FORMAT="wav"/);
  assert.throws(
    () => loadConfig({ ASR_ENGINE: 'gradium', GRADIUM_API_KEY: 'k', GRADIUM_BASE_URL: 'ftp://x/api' }),
    /GRADIUM_BASE_URL="ftp:\/\/x\/api": must be a wss:\/\/ \(or https:\/\/\) URL/,
  );
  // A key alone changes no engine: the start-up warning says how to use it.
  const keyOnly = loadConfig({ GRADIUM_API_KEY: 'k' });
  assert.deepEqual([keyOnly.asr.engine, keyOnly.tts.engine], ['whisper', 'espeak']);
  assert.match(keyOnly.warnings.join('\n'), /GRADIUM_API_KEY is set but neither ASR_ENGINE nor TTS_ENGINE is gradium/);
});

test('Wyoming servers: tcp:// addresses (usual port when left out), chosen by ASR_ENGINE / TTS_ENGINE or by the address alone', () => {
  const config = loadConfig({ ASR_ENGINE: 'wyoming', WYOMING_ASR_URI: 'tcp://whisper.lan:10555', WYOMING_TTS_URI: 'tcp://[::1]' });
  assert.equal(config.asr.engine, 'wyoming');
  assert.deepEqual(config.asr.wyoming, { host: 'whisper.lan', port: 10555, uri: 'tcp://whisper.lan:10555' });
  assert.equal(config.tts.engine, 'wyoming', 'auto picks wyoming when WYOMING_TTS_URI is set');
  assert.deepEqual(config.tts.wyoming, { host: '::1', port: 10200, uri: 'tcp://[::1]:10200' });
  assert.equal(loadConfig({ WYOMING_ASR_URI: 'tcp://h' }).asr.engine, 'wyoming');
  assert.equal(loadConfig({ WYOMING_ASR_URI: 'tcp://h', WHISPER_URL: 'http://asr/v1' }).asr.engine, 'openai', 'an OpenAI-compatible URL wins under auto');
  assert.equal(loadConfig({ WYOMING_TTS_URI: 'tcp://h', TTS_ENGINE: 'espeak' }).tts.engine, 'espeak');
});

test('Wyoming: a missing or malformed address is reported by name with an example', () => {
  assert.throws(
    () => loadConfig({ ASR_ENGINE: 'wyoming', TTS_ENGINE: 'wyoming' }),
    (error: unknown) => {
      assert.ok(error instanceof SpeechbridgeError);
      assert.match(error.message, /WYOMING_ASR_URI: ASR_ENGINE=wyoming needs the Wyoming speech-to-text server's address, e\.g\. tcp:\/\/127\.0\.0\.1:10300\./);
      assert.match(error.message, /WYOMING_TTS_URI: TTS_ENGINE=wyoming needs the Wyoming text-to-speech server's address, e\.g\. tcp:\/\/127\.0\.0\.1:10200\./);
      return true;
    },
  );
  assert.throws(
    () => loadConfig({ WYOMING_ASR_URI: 'http://whisper:10300' }),
    /WYOMING_ASR_URI="http:\/\/whisper:10300": must be a tcp:\/\/ URI \(only TCP is supported\), e\.g\. tcp:\/\/127\.0\.0\.1:10300\./,
  );
  assert.throws(() => loadConfig({ WYOMING_TTS_URI: 'piper:10200' }), /WYOMING_TTS_URI="piper:10200": must be a tcp:\/\/ URI/);
  assert.throws(() => loadConfig({ WYOMING_TTS_URI: 'tcp://piper:10200/voices' }), /must be just tcp:\/\/host:port/);
  assert.throws(() => loadConfig({ WYOMING_TTS_URI: 'nonsense' }), /WYOMING_TTS_URI="nonsense": not a URI/);
  assert.throws(() => loadConfig({ ASR_ENGINE: 'wyoming', WYOMING_ASR_URI: 'tcp://h:0' }), /port 0 is not a port a server listens on/);
});

test('ASR_ENGINE=openai-realtime: OPENAI_REALTIME_URL as endpoint or API root, the key from AUDIO_API_KEY then OPENAI_API_KEY, model and turn detection', () => {
  const defaults = loadConfig({ ASR_ENGINE: 'openai-realtime', OPENAI_API_KEY: 'sk-llm-key' });
  assert.equal(defaults.asr.engine, 'openai-realtime');
  assert.deepEqual(defaults.asr.realtime, {
    url: 'wss://api.openai.com/v1/realtime',
    apiKey: 'sk-llm-key',
    apiKeyName: 'OPENAI_API_KEY',
    model: 'gpt-4o-transcribe',
    turnDetection: 'none',
  });
  const local = loadConfig({
    ASR_ENGINE: 'openai-realtime',
    OPENAI_REALTIME_URL: 'http://127.0.0.1:8080/v1/',
    AUDIO_API_KEY: 'sk-audio',
    OPENAI_API_KEY: 'sk-llm',
    OPENAI_REALTIME_TRANSCRIBE_MODEL: 'gpt-4o-mini-transcribe',
    OPENAI_REALTIME_TURN_DETECTION: 'server_vad',
  });
  assert.deepEqual(local.asr.realtime, {
    url: 'ws://127.0.0.1:8080/v1/realtime',
    apiKey: 'sk-audio',
    apiKeyName: 'AUDIO_API_KEY',
    model: 'gpt-4o-mini-transcribe',
    turnDetection: 'server_vad',
  });
  // Another speechbridge or LocalAI may need no key at all.
  assert.equal(loadConfig({ ASR_ENGINE: 'openai-realtime', OPENAI_REALTIME_URL: 'ws://10.0.0.5:8080/v1/realtime' }).asr.realtime.apiKey, undefined);
  // auto never picks it: it is a choice.
  assert.equal(loadConfig({ OPENAI_API_KEY: 'sk-x' }).asr.engine, 'whisper');
});

test('ASR_ENGINE=openai-realtime refuses a URL that is not ws/http, a ?model= in it, and OpenAI without a key, naming the variables', () => {
  assert.throws(
    () => loadConfig({ ASR_ENGINE: 'openai-realtime' }),
    /AUDIO_API_KEY or OPENAI_API_KEY: ASR_ENGINE=openai-realtime on api\.openai\.com needs an OpenAI key/,
  );
  assert.throws(
    () => loadConfig({ OPENAI_REALTIME_URL: 'ftp://example.com/v1/realtime' }),
    /OPENAI_REALTIME_URL="ftp:\/\/example.com\/v1\/realtime": must be a ws:\/\/, wss:\/\/, http:\/\/ or https:\/\/ URL/,
  );
  assert.throws(
    () => loadConfig({ ASR_ENGINE: 'openai-realtime', AUDIO_API_KEY: 'k', OPENAI_REALTIME_URL: 'wss://api.openai.com/v1/realtime?model=gpt-realtime' }),
    /remove \?model=: it opens a conversation session; the transcription model is OPENAI_REALTIME_TRANSCRIBE_MODEL/,
  );
  assert.throws(() => loadConfig({ OPENAI_REALTIME_TURN_DETECTION: 'always' }), /OPENAI_REALTIME_TURN_DETECTION="always"/);
});

test('several instances: SECRET_KEY needs 32 characters, REDIS_URL a Redis URL, and REDIS_URL without SECRET_KEY warns', () => {
  const key = 'x'.repeat(32);
  const config = loadConfig({
    SECRET_KEY: key,
    SECRET_KEY_PREVIOUS: 'y'.repeat(40),
    REDIS_URL: 'redis://redis:6379',
    MAX_SESSIONS_PER_TOKEN: '5',
    MAX_REQUESTS_PER_MINUTE: '100',
  });
  assert.deepEqual(config.secretKeys, { current: key, previous: 'y'.repeat(40) });
  assert.equal(config.redisUrl, 'redis://redis:6379');
  assert.deepEqual(config.tokenLimits, { maxSessions: 5, maxRequestsPerMinute: 100, sessionLeaseMs: 30_000 });
  assert.deepEqual(config.warnings, []);
  assert.throws(() => loadConfig({ SECRET_KEY: 'short' }), /SECRET_KEY: 5 characters; use at least 32/);
  assert.throws(() => loadConfig({ SECRET_KEY_PREVIOUS: key }), /SECRET_KEY: SECRET_KEY_PREVIOUS is set without it/);
  assert.throws(() => loadConfig({ REDIS_URL: 'http://redis:6379' }), /REDIS_URL: not a Redis URL/);
  assert.match(
    loadConfig({ REDIS_URL: 'redis://redis:6379' }).warnings.join('\n'),
    /SECRET_KEY is not: a client secret minted by one instance is refused by the others/,
  );
  assert.deepEqual(loadConfig({}).tokenLimits, { maxSessions: 0, maxRequestsPerMinute: 0, sessionLeaseMs: 30_000 });
});
