import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { initResampler } from '../../src/audio/resample.ts';
import { BUFFER_SAMPLE_RATE, InputBuffer } from '../../src/engine/input-buffer.ts';

/** `count` frames of a constant level (20 ms at 24 kHz by default). */
function frames(count: number, samplesPerFrame = 480): Int16Array[] {
  return Array.from({ length: count }, () => new Int16Array(samplesPerFrame).fill(1000));
}

before(async () => {
  await initResampler();
});

describe('InputBuffer', () => {
  test('resamples 24 kHz to 16 kHz as audio arrives and counts positions in ms from the start', () => {
    const buffer = new InputBuffer({ inputSampleRate: 24000, maxBufferMs: 60_000 });
    let out = 0;
    for (const frame of frames(50)) out += buffer.append(frame)!.length;
    // 1 s at 24 kHz is 16000 samples at 16 kHz, less the few samples the filter still holds.
    assert.ok(out > 15_900 && out <= 16_000, `${out} samples`);
    assert.equal(buffer.endMs, (out * 1000) / BUFFER_SAMPLE_RATE);
    assert.equal(buffer.startMs, 0);
    buffer.close();
  });

  test('commit takes [fromMs, end], empties the buffer, and positions go on counting', () => {
    const buffer = new InputBuffer({ inputSampleRate: 16000, maxBufferMs: 60_000 });
    for (const frame of frames(50, 320)) buffer.append(frame);
    const committed = buffer.commit(250);
    assert.equal(committed.startMs, 250);
    assert.equal(committed.endMs, 1000);
    assert.equal(committed.audio.samples.length, 750 * 16);
    assert.equal(buffer.durationMs, 0);
    assert.equal(buffer.startMs, 1000);
    buffer.append(new Int16Array(320));
    assert.equal(buffer.endMs, 1020);
    buffer.close();
  });

  test('at 16 kHz the kept audio is a copy: the caller may reuse its array', () => {
    const buffer = new InputBuffer({ inputSampleRate: 16000, maxBufferMs: 60_000 });
    const reused = new Int16Array(1600).fill(7);
    buffer.append(reused);
    reused.fill(-7);
    buffer.append(reused);
    const { audio } = buffer.commit();
    assert.equal(audio.samples[0], 7);
    assert.equal(audio.samples[1600], -7);
    buffer.close();
  });

  test('retainTail keeps only the tail; retainFrom keeps from a point; retainAll keeps everything', () => {
    const buffer = new InputBuffer({ inputSampleRate: 16000, maxBufferMs: 600_000 });
    buffer.retainTail(400);
    for (const frame of frames(500, 320)) buffer.append(frame);
    // Whole 20 ms chunks are dropped, so the tail is 400 ms plus less than one chunk.
    assert.ok(buffer.durationMs >= 400 && buffer.durationMs < 420, `${buffer.durationMs} ms kept of 10000`);
    buffer.retainFrom(buffer.startMs + 100);
    for (const frame of frames(100, 320)) buffer.append(frame);
    assert.equal(buffer.startMs, 9600 + 100);
    buffer.retainAll();
    for (const frame of frames(100, 320)) buffer.append(frame);
    assert.equal(buffer.durationMs, 14_000 - 9700);
    buffer.close();
  });

  test('committed and peeked audio stays as it was while the buffer takes on and drops more audio', () => {
    const buffer = new InputBuffer({ inputSampleRate: 16000, maxBufferMs: 600_000 });
    buffer.retainTail(100);
    const frame = (value: number) => new Int16Array(320).fill(value);
    for (let i = 0; i < 100; i++) buffer.append(frame(i));
    const peeked = buffer.peek();
    const peekedCopy = peeked.audio.samples.slice();
    for (let i = 100; i < 150; i++) buffer.append(frame(i));
    const committed = buffer.commit();
    const committedCopy = committed.audio.samples.slice();
    assert.equal(committed.audio.samples[0], 145, 'the tail kept: the last 100 ms, five whole appends');
    // Many seconds more, with the tail dropped as they come: the kept audio moves in its array or to a new one.
    for (let i = 0; i < 2000; i++) buffer.append(frame(-i));
    assert.deepEqual(peeked.audio.samples, peekedCopy);
    assert.deepEqual(committed.audio.samples, committedCopy);
    const last = buffer.peek();
    assert.equal(last.audio.samples.at(-1), -1999);
    assert.ok(last.audio.samples.length >= 100 * 16 && last.audio.samples.length < 120 * 16, `${last.audio.samples.length} samples kept`);
    buffer.close();
  });

  test('refuses an append that would pass maxBufferMs and keeps nothing of it', () => {
    const buffer = new InputBuffer({ inputSampleRate: 16000, maxBufferMs: 1000 });
    let refused = 0;
    for (const frame of frames(60, 320)) if (buffer.append(frame) === null) refused++;
    assert.equal(refused, 10);
    assert.equal(buffer.durationMs, 1000);
    buffer.clear();
    assert.notEqual(buffer.append(new Int16Array(320)), null);
    buffer.close();
  });

  test('switching the input rate keeps the audio already buffered', () => {
    const buffer = new InputBuffer({ inputSampleRate: 24000, maxBufferMs: 60_000 });
    for (const frame of frames(25)) buffer.append(frame);
    const before = buffer.endMs;
    buffer.setInputSampleRate(8000);
    for (const frame of frames(25, 160)) buffer.append(frame);
    // The stream resampler (speex quality 8) holds back up to ~20 ms of its filter's delay at 8 kHz.
    assert.ok(buffer.endMs > before + 475 && buffer.endMs <= before + 500, `${buffer.endMs - before} ms added`);
    buffer.close();
  });
});
