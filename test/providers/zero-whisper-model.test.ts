/**
 * The zero-weight whisper models the tests and benchmarks generate: whisper.cpp accepts them
 * (it refuses a missing tensor, a wrong shape or a wrong size) and runs them on real audio,
 * and their tensors take the bytes of the ggml tiny.en and base.en files.
 */
import assert from 'node:assert/strict';
import { open, readFile, stat } from 'node:fs/promises';
import { test } from 'node:test';
import { readWav } from '../../src/audio/wav.ts';
import { createWhisperTranscriber } from '../../src/providers/local/whisper-transcriber.ts';
import { sharedAudioPath } from '../helpers/shared.ts';
import { melFilterbank, tensorSectionBytes, zeroModelSpec, zeroWhisperModel } from '../helpers/zero-whisper-model.ts';

/**
 * Bytes of the tensor section (headers and data) of whisper.cpp's ggml-tiny.en.bin and
 * ggml-base.en.bin as its converter writes them: the model files minus their 586,836-byte
 * header, mel filters and vocabulary (77,705,316 and 147,964,812 bytes).
 */
const TENSOR_SECTION_BYTES = { 'tiny.en': 77_118_480, 'base.en': 147_377_976 };

async function readHeader(file: string): Promise<number[]> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(48);
    await handle.read(buffer, 0, 48, 0);
    return Array.from({ length: 12 }, (_, index) => buffer.readInt32LE(index * 4));
  } finally {
    await handle.close();
  }
}

test('tiny.en and base.en have the tensor bytes of the published models; tiny is multilingual by its vocabulary size', async () => {
  for (const name of ['tiny.en', 'base.en'] as const) {
    assert.equal(tensorSectionBytes(zeroModelSpec(name)), TENSOR_SECTION_BYTES[name], name);
  }
  assert.equal(zeroModelSpec('tiny.en').tensors.length, 167);
  assert.equal(zeroModelSpec('base.en').tensors.length, 245);
  const [magic, vocabulary, audioContext, width] = await readHeader(await zeroWhisperModel('tiny'));
  assert.equal(magic, 0x67676d6c);
  assert.deepEqual([vocabulary, audioContext, width], [51_865, 1500, 384]);
});

test('the mel filterbank is whisper’s: 80 triangular bands over 201 bins, each band area-normalised', () => {
  const filters = melFilterbank();
  assert.equal(filters.length, 80 * 201);
  for (let band = 0; band < 80; band++) {
    const row = filters.subarray(band * 201, (band + 1) * 201);
    const peak = row.indexOf(Math.max(...row));
    assert.ok(row[peak] > 0, `band ${band} is empty`);
    // Rises to its peak and falls after it: one triangle per band.
    for (let bin = 1; bin <= peak; bin++) assert.ok(row[bin] >= row[bin - 1], `band ${band} dips before its peak at bin ${bin}`);
    for (let bin = peak + 1; bin < 201; bin++) assert.ok(row[bin] <= row[bin - 1], `band ${band} rises after its peak at bin ${bin}`);
  }
  // Slaney normalisation: 2 / bandwidth, so the lowest band (0–133 Hz) peaks near 0.0249.
  assert.ok(Math.abs(filters[1] - 0.02486) < 1e-4, `lowest band at 40 Hz: ${filters[1]}`);
});

for (const name of ['tiny.en', 'base.en'] as const) {
  test(`whisper loads the generated ${name} and transcribes a real recording with it`, async () => {
    const transcriber = await createWhisperTranscriber({ modelPath: await zeroWhisperModel(name), audioContext: 256, timeoutMs: 120_000 });
    try {
      assert.equal(transcriber.model.multilingual, false);
      const audio = readWav(await readFile(sharedAudioPath('en_one_two_three.wav')));
      const result = await transcriber.transcribe(audio);
      // Zero weights: the words are meaningless; whisper ran the whole clip through.
      assert.equal(typeof result.text, 'string');
      assert.equal(result.language, 'en');
      assert.equal(Math.round(result.durationMs), 2745);
    } finally {
      await transcriber.close();
    }
  });
}

test('a second call reuses the file written by the first', async () => {
  const first = await zeroWhisperModel('tiny.en');
  const writtenAt = (await stat(first)).mtimeMs;
  assert.equal(await zeroWhisperModel('tiny.en'), first);
  assert.equal((await stat(first)).mtimeMs, writtenAt);
});
