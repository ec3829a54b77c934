import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { concatPcm, durationMs, rmsDbfs, type PcmAudio } from '../../src/audio/pcm.ts';
import type { SynthesizeRequest } from '../../src/providers/contracts.ts';
import { EspeakSynthesizer } from '../../src/providers/local/espeak-synthesizer.ts';
import { OPENAI_VOICES } from '../../src/providers/openai/voices.ts';

let synthesizer: EspeakSynthesizer;
/** What the synthesizer reported, in order, shared with the consumer's own entries. */
const log: string[] = [];

before(async () => {
  synthesizer = await EspeakSynthesizer.create({
    workers: 1,
    onSentenceSynthesized: ({ index }) => log.push(`synthesized ${index}`),
  });
});

after(async () => {
  await synthesizer.close();
});

async function speak(request: SynthesizeRequest): Promise<PcmAudio[]> {
  const chunks: PcmAudio[] = [];
  for await (const chunk of synthesizer.synthesize(request)) chunks.push(chunk);
  return chunks;
}

function joined(chunks: PcmAudio[]): PcmAudio {
  return { samples: concatPcm(chunks.map((chunk) => chunk.samples)), sampleRate: chunks[0].sampleRate };
}

test('declares streaming at 22050 Hz with espeak and OpenAI voice names', () => {
  assert.equal(synthesizer.capabilities.streaming, true);
  assert.equal(synthesizer.capabilities.sampleRate, 22050);
  for (const voice of ['en', 'en-us', 'en-gb', 'fr', 'de', 'es', ...OPENAI_VOICES]) {
    assert.ok(synthesizer.capabilities.voices.includes(voice), `voices lack ${voice}`);
  }
});

test('a short sentence gives non-silent speech of plausible length; speed 2 is shorter', async () => {
  const text = 'hello there, this is a test';
  const normal = joined(await speak({ text }));
  assert.equal(normal.sampleRate, 22050);
  const normalMs = durationMs(normal);
  assert.ok(normalMs >= 1000 && normalMs <= 4000, `speech lasted ${normalMs} ms`);
  assert.ok(rmsDbfs(normal.samples) > -35, `speech level ${rmsDbfs(normal.samples)} dBFS`);
  const fast = joined(await speak({ text, speed: 2 }));
  assert.ok(durationMs(fast) < durationMs(normal) * 0.75, `speed 2 lasted ${durationMs(fast)} ms vs ${normalMs} ms`);
  assert.ok(rmsDbfs(fast.samples) > -35);
});

test('several sentences stream one chunk each, the first before the last is synthesized', async () => {
  log.length = 0;
  const sentences = ['The first sentence is short.', 'Here comes the second one!', 'And this is the third, and last, sentence?'];
  let received = 0;
  for await (const chunk of synthesizer.synthesize({ text: sentences.join(' ') })) {
    assert.ok(rmsDbfs(chunk.samples) > -35, `chunk ${received} is silent`);
    log.push(`received ${received++}`);
  }
  assert.equal(received, 3);
  const firstReceived = log.indexOf('received 0');
  const lastSynthesized = log.indexOf('synthesized 2');
  assert.ok(firstReceived >= 0 && lastSynthesized >= 0, log.join(', '));
  assert.ok(firstReceived < lastSynthesized, `order was ${log.join(', ')}`);
});

test('OpenAI voice names are accepted and map onto distinct espeak voices', async () => {
  const text = 'Good morning.';
  const rendered = new Map<string, Int16Array>();
  for (const voice of ['alloy', 'coral', 'onyx', 'fable']) {
    const audio = joined(await speak({ text, voice }));
    assert.ok(rmsDbfs(audio.samples) > -35, `${voice} is silent`);
    rendered.set(voice, audio.samples);
  }
  assert.equal(synthesizer.resolveVoice('coral'), 'gmw/en-US+f3');
  const [alloy, coral, onyx] = ['alloy', 'coral', 'onyx'].map((voice) => rendered.get(voice)!);
  assert.notDeepEqual(alloy, coral);
  assert.notDeepEqual(coral, onyx);
  // espeak names, with and without a variant, in any case.
  for (const voice of ['EN-GB', 'fr', 'en-us+f3']) assert.ok((await speak({ text: 'Bonjour.', voice })).length === 1, voice);
});

test('an unknown voice or variant is refused with unknown_voice on param voice', async () => {
  for (const voice of ['nobody', 'en-us+nonexistent', 'constructor']) {
    await assert.rejects(speak({ text: 'hi', voice }), { name: 'SpeechbridgeError', code: 'unknown_voice', param: 'voice' }, voice);
  }
  await assert.rejects(speak({ text: 'hi', speed: 9 }), { code: 'invalid_value', param: 'speed' });
});

test('aborting after the first chunk ends the stream with an AbortError and stops synthesis', async () => {
  log.length = 0;
  const controller = new AbortController();
  const text = 'One sentence here. Two sentences here. Three sentences here. Four sentences here. Five sentences here.';
  let received = 0;
  await assert.rejects(
    (async () => {
      for await (const _ of synthesizer.synthesize({ text, signal: controller.signal })) {
        received++;
        controller.abort();
      }
    })(),
    { name: 'AbortError' },
  );
  assert.equal(received, 1);
  // Let any reply still in flight arrive; nothing past the look-ahead sentence may be synthesized.
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.ok(!log.some((entry) => /synthesized [2-4]/.test(entry)), log.join(', '));
});

test('breaking out of the loop stops the remaining sentences', async () => {
  log.length = 0;
  const text = 'Alpha is first. Beta is second. Gamma is third. Delta is fourth.';
  for await (const _ of synthesizer.synthesize({ text })) break;
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.ok(log.includes('synthesized 0'));
  assert.ok(!log.some((entry) => /synthesized [2-3]/.test(entry)), log.join(', '));
});

test('text with nothing to say yields no audio', async () => {
  assert.deepEqual(await speak({ text: ' ... — ' }), []);
});
