/**
 * The provider timing wrapper: a call that ends is `ok`, one that fails is `error` with its
 * code, an abort or a consumer that stops reading is `aborted` (never an error), and a stream's
 * first chunk is timed once. The wrapper passes values through unchanged.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { abortError } from '../../src/errors/abort.ts';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import { timedSynthesizer, timedTranscriber, type ProviderObserver } from '../../src/providers/base/timed-providers.ts';
import type { Synthesizer, Transcriber } from '../../src/providers/contracts.ts';
import { ScriptedSynthesizer } from '../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';

function recorder(): ProviderObserver & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    call: (kind, name, outcome, seconds) => {
      assert.ok(seconds >= 0);
      seen.push(`${kind} ${name} ${outcome}`);
    },
    firstChunk: (kind, name) => seen.push(`${kind} ${name} first`),
    error: (kind, name, code) => seen.push(`${kind} ${name} error ${code}`),
  };
}

const audio = { samples: new Int16Array(16_000), sampleRate: 16_000 };

test('transcriber calls: ok, an error by code, an abort as aborted', async () => {
  const observer = recorder();
  const ok = timedTranscriber(new ScriptedTranscriber({ texts: 'hello' }), observer);
  assert.equal((await ok.transcribe(audio)).text, 'hello');
  const failing = timedTranscriber(new ScriptedTranscriber({ failure: { code: 'upstream_error' } }), observer);
  await assert.rejects(failing.transcribe(audio), (error: unknown) => error instanceof SpeechbridgeError && error.code === 'upstream_error');
  const aborting: Transcriber = { ...ok, name: 'aborting', transcribe: () => Promise.reject(abortError()) };
  await assert.rejects(timedTranscriber(aborting, observer).transcribe(audio), { name: 'AbortError' });
  assert.deepEqual(observer.seen, [
    'transcriber scripted-transcriber ok',
    'transcriber scripted-transcriber error',
    'transcriber scripted-transcriber error upstream_error',
    'transcriber aborting aborted',
  ]);
});

test('a synthesizer stream times its first chunk once; a consumer that stops early is aborted', async () => {
  const observer = recorder();
  const synthesizer: Synthesizer = timedSynthesizer(new ScriptedSynthesizer(), observer);
  assert.equal(synthesizer.name, 'scripted-synthesizer');
  let chunks = 0;
  for await (const chunk of synthesizer.synthesize({ text: 'One. Two. Three.' })) {
    assert.ok(chunk.samples.length > 0);
    chunks++;
  }
  assert.ok(chunks >= 1);
  for await (const chunk of synthesizer.synthesize({ text: 'One. Two. Three.' })) {
    assert.ok(chunk.samples.length > 0);
    break;
  }
  assert.deepEqual(observer.seen, [
    'synthesizer scripted-synthesizer first',
    'synthesizer scripted-synthesizer ok',
    'synthesizer scripted-synthesizer first',
    'synthesizer scripted-synthesizer aborted',
  ]);
});
