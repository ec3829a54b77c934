/**
 * The Gradium start-up check, as an operator meets it: `speechbridge serve` with
 * ASR_ENGINE=gradium / TTS_ENGINE=gradium probes each endpoint once (connect, setup, ready)
 * against the local Gradium server, and a wrong key, a dead host or an unknown model stops
 * start-up with one line saying what to fix; with everything right the providers are built and
 * GET / lists them.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { createProviders } from '../../src/server/provider-factory.ts';
import { loadConfig } from '../../src/server/config.ts';
import { createLogger } from '../../src/server/logging.ts';
import { startServer } from '../../src/server/app.ts';
import { GRADIUM_TEST_KEY, startGradiumUpstream, type GradiumUpstream } from '../helpers/gradium-upstream.ts';
import { runCli } from './cli-harness.ts';

let upstream: GradiumUpstream;

before(async () => {
  upstream = await startGradiumUpstream();
});

after(async () => {
  await upstream.close();
});

function gradiumEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ASR_ENGINE: 'gradium',
    TTS_ENGINE: 'gradium',
    GRADIUM_API_KEY: GRADIUM_TEST_KEY,
    GRADIUM_BASE_URL: upstream.baseUrl,
    REQUEST_TIMEOUT: '5',
    ...extra,
  };
}

/** Exit 1 for an upstream that fails, 2 for a setting it refuses (an unknown voice: a bad value). */
async function oneLineStartFailure(env: Record<string, string>, line: RegExp, exitCode = 1): Promise<void> {
  const exit = await runCli(['serve', '--host', '127.0.0.1', '--port', '0'], { LOG_LEVEL: 'warn', ...env }).exited;
  assert.equal(exit.code, exitCode, `exit code; stderr: ${exit.stderr}`);
  const lines = exit.stderr.split('\n').filter((text) => text !== '');
  assert.equal(lines.length, 1, `one line expected, got:\n${exit.stderr}`);
  assert.match(lines[0], line);
  assert.doesNotMatch(exit.stderr, /\bat .*\.(ts|js):\d+|node:internal/, 'no stack trace');
}

test('configured right: both endpoints are probed once (setup → ready → end), and GET / lists the Gradium providers', async () => {
  const from = upstream.connections.length;
  const config = loadConfig({ SERVER_NAME: '127.0.0.1', SERVER_PORT: '0', LOG_LEVEL: 'silent', ...gradiumEnv() });
  const providers = await createProviders(config, createLogger('silent'));
  const server = await startServer({ config, providers, logger: createLogger('silent') });
  try {
    await upstream.settled();
    const probes = upstream.connections.slice(from);
    assert.deepEqual(
      probes.map((connection) => connection.path),
      ['/api/speech/asr', '/api/speech/tts'],
    );
    assert.deepEqual(probes[0].received, [{ type: 'setup', model_name: 'default', input_format: 'pcm' }, { type: 'end_of_stream' }]);
    assert.deepEqual(probes[1].received, [
      { type: 'setup', model_name: 'default', voice_id: 'YTpq7expH9539ERJ', output_format: 'pcm' },
      { type: 'end_of_stream' },
    ]);
    const health = (await (await fetch(`${server.url}/`)).json()) as { engines: Record<string, unknown> };
    assert.deepEqual(health.engines.transcriber, { engine: 'gradium', model: 'default' });
    assert.deepEqual(health.engines.synthesizer, { engine: 'gradium', model: 'default', voice: 'YTpq7expH9539ERJ' });
  } finally {
    await server.close();
    await providers.close();
  }
});

test('a wrong key stops start-up: one line naming Gradium and GRADIUM_API_KEY, exit 1', async () => {
  await oneLineStartFailure(
    gradiumEnv({ GRADIUM_API_KEY: 'gd-wrong-key-555' }),
    /^speechbridge: start-up check failed: Gradium speech-to-text \(ws:\/\/127\.0\.0\.1:\d+\/api\/speech\/asr\) refused the API key: "API key is revoked or expired" \(error 1008, policy violation\); check GRADIUM_API_KEY$/,
  );
});

test('a dead host stops start-up: one line naming the URL and GRADIUM_BASE_URL, exit 1', async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  await oneLineStartFailure(
    gradiumEnv({ GRADIUM_BASE_URL: `ws://127.0.0.1:${port}/api` }),
    new RegExp(
      `^speechbridge: start-up check failed: could not reach Gradium speech-to-text \\(ws://127\\.0\\.0\\.1:${port}/api/speech/asr\\): ECONNREFUSED; check GRADIUM_BASE_URL and the network$`,
    ),
  );
});

test('an unknown text-to-speech model or voice stops start-up naming its variable', async () => {
  await oneLineStartFailure(
    gradiumEnv({ ASR_ENGINE: 'pocketsphinx', GRADIUM_TTS_MODEL: 'no-such-tts' }),
    /^speechbridge: start-up check failed: Gradium text-to-speech \(.*\) has no model "no-such-tts": .*; check GRADIUM_TTS_MODEL$/,
  );
  await oneLineStartFailure(
    gradiumEnv({ ASR_ENGINE: 'pocketsphinx', GRADIUM_TTS_VOICE_ID: 'noSuchVoice00000' }),
    /^speechbridge: start-up check failed: Gradium text-to-speech \(.*\) has no voice "noSuchVoice00000": .*GRADIUM_TTS_VOICE_ID is the default one\)$/,
    2,
  );
});

test('ASR_ENGINE=gradium without a key: one line naming GRADIUM_API_KEY, before anything connects', async () => {
  const from = upstream.connections.length;
  const exit = await runCli(['serve', '--port', '0'], { ASR_ENGINE: 'gradium', GRADIUM_API_KEY: undefined, GRADIUM_BASE_URL: upstream.baseUrl }).exited;
  assert.equal(exit.code, 2, exit.stderr);
  assert.match(exit.stderr, /GRADIUM_API_KEY: ASR_ENGINE=gradium needs the Gradium API key/);
  assert.equal(upstream.connections.length, from);
});
