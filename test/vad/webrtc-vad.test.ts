import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createWebRtcVad } from '../../src/vad/webrtc-vad.ts';
import { loadClip, msToSamples, pad } from './speech-audio.ts';

function decisions(vad: { frameSamples: number; probability(frame: Int16Array): number }, samples: Int16Array): number[] {
  const out: number[] = [];
  for (let offset = 0; offset + vad.frameSamples <= samples.length; offset += vad.frameSamples) {
    out.push(vad.probability(samples.subarray(offset, offset + vad.frameSamples)));
  }
  return out;
}

test('20 ms frames at 16 kHz by default; 10 and 30 ms on request', async () => {
  const vad = await createWebRtcVad();
  assert.equal(vad.sampleRate, 16000);
  assert.equal(vad.frameSamples, 320);
  assert.equal(vad.aggressiveness, 2);
  assert.equal(vad.name, 'webrtc-vad-2');
  vad.close();
  for (const [frameMs, frameSamples] of [
    [10, 160],
    [30, 480],
  ] as const) {
    const other = await createWebRtcVad({ frameMs, aggressiveness: 3 });
    assert.equal(other.frameSamples, frameSamples);
    assert.equal(other.probability(new Int16Array(frameSamples)), 0);
    other.close();
  }
});

test('answers 0 on silence and 1 on most frames of a spoken sentence', async () => {
  const vad = await createWebRtcVad({ aggressiveness: 2 });
  const clip = loadClip('en_lj_LJ001-0004.wav');
  const silence = decisions(vad, new Int16Array(msToSamples(1000)));
  assert.ok(
    silence.every((p) => p === 0),
    'digital silence is never voiced',
  );
  const speech = decisions(vad, clip.samples);
  assert.ok(
    speech.every((p) => p === 0 || p === 1),
    'WebRTC VAD answers 0 or 1',
  );
  const voicedShare = speech.filter((p) => p === 1).length / speech.length;
  assert.ok(voicedShare > 0.7, `only ${Math.round(voicedShare * 100)}% of a continuous sentence was voiced`);
  vad.close();
});

test('reset makes the same audio give the same answers', async () => {
  const vad = await createWebRtcVad({ aggressiveness: 1 });
  const samples = pad(loadClip('en_one_two_three.wav').samples, 300, 300);
  const first = decisions(vad, samples);
  vad.reset();
  assert.deepEqual(decisions(vad, samples), first);
  vad.close();
});

test('detectors sharing the wasm module keep separate state', async () => {
  const a = await createWebRtcVad({ aggressiveness: 0 });
  const b = await createWebRtcVad({ aggressiveness: 0 });
  const samples = loadClip('en_harvard_birch_canoe.wav').samples;
  const alone = decisions(a, samples);
  a.reset();
  // Interleaving b's frames (silence) must not change a's answers.
  const interleaved: number[] = [];
  const silence = new Int16Array(320);
  for (let offset = 0; offset + 320 <= samples.length; offset += 320) {
    interleaved.push(a.probability(samples.subarray(offset, offset + 320)));
    b.probability(silence);
  }
  assert.deepEqual(interleaved, alone);
  a.close();
  b.close();
});

test('rejects a wrong frame length, a bad aggressiveness or frame length, and use after close', async () => {
  const vad = await createWebRtcVad();
  assert.throws(() => vad.probability(new Int16Array(319)), { code: 'invalid_value', param: 'frame' });
  vad.close();
  vad.close();
  assert.throws(() => vad.probability(new Int16Array(320)), { code: 'engine_unavailable' });
  await assert.rejects(createWebRtcVad({ aggressiveness: 4 as 3 }), { code: 'invalid_value', param: 'aggressiveness' });
  await assert.rejects(createWebRtcVad({ frameMs: 25 as 20 }), { code: 'invalid_value', param: 'frameMs' });
});
