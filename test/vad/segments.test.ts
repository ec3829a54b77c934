import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resample } from '../../src/audio/resample.ts';
import { findSpeechSegments, type SpeechSegment } from '../../src/vad/segments.ts';
import { createVoiceDetector } from '../../src/vad/voice-detector-factory.ts';
import type { VoiceDetectorOptions } from '../../src/vad/voice-detector.ts';
import { loadClip, pad, readRttm } from './speech-audio.ts';

/**
 * ±250 ms against the RTTM. The turn times come to 0.1 s from another cut of the same
 * recording (aligned by envelope, see test/fixtures/audio/manifest.tsv), and each speaker is a separate
 * clip with its own room tone: spk2's rises 11 dB at 6.0 s, 0.3 s before the first word, and
 * an engine may take that as the start. Pauses inside a turn may split it only where they
 * reach endMs (450 ms); the gaps between turns (2.3 s and 1.7 s) must never be bridged.
 */
const RTTM_TOLERANCE_MS = 250;

function checkAgainstRttm(segments: SpeechSegment[], engine: string): void {
  const turns = readRttm('multi_en_3spk_leopard_diarization.rttm');
  assert.equal(turns.length, 3, 'the RTTM lists three speaker turns');
  for (const segment of segments) {
    const inside = turns.some((turn) => segment.startMs >= turn.startMs - RTTM_TOLERANCE_MS && segment.endMs <= turn.endMs + RTTM_TOLERANCE_MS);
    assert.ok(inside, `${engine}: segment ${segment.startMs}–${segment.endMs} ms lies in no RTTM turn`);
  }
  for (const turn of turns) {
    const within = segments.filter((segment) => segment.endMs > turn.startMs - RTTM_TOLERANCE_MS && segment.startMs < turn.endMs + RTTM_TOLERANCE_MS);
    assert.ok(within.length > 0, `${engine}: no segment for the turn ${turn.startMs}–${turn.endMs} ms`);
    const startErrorMs = within[0].startMs - turn.startMs;
    const endErrorMs = within[within.length - 1].endMs - turn.endMs;
    assert.ok(Math.abs(startErrorMs) <= RTTM_TOLERANCE_MS, `${engine}: turn at ${turn.startMs} ms starts ${startErrorMs} ms off`);
    assert.ok(Math.abs(endErrorMs) <= RTTM_TOLERANCE_MS, `${engine}: turn ending ${turn.endMs} ms ends ${endErrorMs} ms off`);
  }
}

for (const engine of [{ engine: 'webrtc', aggressiveness: 2 }, { engine: 'silero' }] satisfies VoiceDetectorOptions[]) {
  test(`${engine.engine}: segments of multi_en_3spk_leopard_diarization.wav match its RTTM turns`, async () => {
    const segments = await findSpeechSegments(loadClip('multi_en_3spk_leopard_diarization.wav'), { engine, turn: { maxMs: 600_000 } });
    assert.ok(segments.every((segment) => segment.reason !== 'max_duration'));
    checkAgainstRttm(segments, engine.engine);
  });
}

test('default maxMs (5000) splits the 4.9 s and 6.5 s turns, each piece at most maxMs + one frame', async () => {
  const segments = await findSpeechSegments(loadClip('multi_en_3spk_leopard_diarization.wav'));
  assert.ok(
    segments.some((segment) => segment.reason === 'max_duration'),
    JSON.stringify(segments),
  );
  for (const segment of segments) assert.ok(segment.endMs - segment.startMs <= 5000 + 20, JSON.stringify(segment));
});

test('audio at another rate is resampled to 16 kHz and gives the same segments within a frame', async () => {
  const clip = loadClip('en_ls_1089-134691-0000.wav');
  const padded = { samples: pad(clip.samples, 700, 900), sampleRate: 16000 };
  const at16k = await findSpeechSegments(padded);
  assert.equal(at16k.length, 1, JSON.stringify(at16k));
  for (const rate of [8000, 24000]) {
    const other = await findSpeechSegments(await resample(padded, rate));
    assert.equal(other.length, 1, `${rate} Hz: ${JSON.stringify(other)}`);
    assert.ok(Math.abs(other[0].startMs - at16k[0].startMs) <= 20, `${rate} Hz start ${other[0].startMs} vs ${at16k[0].startMs}`);
    assert.ok(Math.abs(other[0].endMs - at16k[0].endMs) <= 20, `${rate} Hz end ${other[0].endMs} vs ${at16k[0].endMs}`);
  }
});

test('a caller-owned detector is used, reset, and left open', async () => {
  const detector = await createVoiceDetector({ engine: 'webrtc' });
  const audio = { samples: pad(loadClip('en_one_two_three.wav').samples, 500, 800), sampleRate: 16000 };
  const first = await findSpeechSegments(audio, { detector });
  const second = await findSpeechSegments(audio, { detector });
  assert.ok(first.length > 0);
  assert.deepEqual(second, first);
  assert.equal(detector.probability(new Int16Array(detector.frameSamples)), 0, 'the detector is still open');
  detector.close?.();
});

test('an aborted signal stops the scan with an AbortError', async () => {
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(findSpeechSegments(loadClip('en_jfk_inaugural.wav'), { signal: controller.signal }), { name: 'AbortError' });
  const later = new AbortController();
  const running = findSpeechSegments(loadClip('multi_en_3spk_leopard_diarization.wav'), { signal: later.signal });
  later.abort();
  await assert.rejects(running, { name: 'AbortError' });
});
