/**
 * Derives a zero-weight multilingual tiny model from the shared zero-weight tiny.en, so the
 * language-detection path can run without a real multilingual model (none can be had here).
 * whisper.cpp calls a model multilingual when its vocabulary has 51,865 tokens (tiny.en has
 * 51,864), so this adds one zero row to the token embedding and bumps the count; every other
 * tensor is copied as is. Like its source, it says nothing about words.
 */
import { readFile, writeFile } from 'node:fs/promises';

const MULTILINGUAL_VOCAB = 51_865;
const TOKEN_EMBEDDING = 'decoder.token_embedding.weight';
/** ggml tensor types in these files: 0 = f32, 1 = f16. */
const BYTES_PER_ELEMENT: Record<number, number> = { 0: 4, 1: 2 };

export async function writeZeroMultilingualModel(englishOnlyModel: string, target: string): Promise<void> {
  const source = await readFile(englishOnlyModel);
  let offset = 0;
  const int32 = () => {
    const value = source.readInt32LE(offset);
    offset += 4;
    return value;
  };
  if (int32() !== 0x67676d6c) throw new Error(`${englishOnlyModel} is not a whisper.cpp ggml model (bad magic)`);
  const hparams = Array.from({ length: 11 }, int32);
  if (hparams[0] !== MULTILINGUAL_VOCAB - 1) throw new Error(`${englishOnlyModel} has ${hparams[0]} tokens, expected an English-only ${MULTILINGUAL_VOCAB - 1}`);
  const textState = hparams[6];
  const melCount = int32();
  const fftCount = int32();
  offset += melCount * fftCount * 4;
  const words = int32();
  for (let word = 0; word < words; word++) {
    const length = int32();
    offset += length;
  }

  const header = Buffer.from(source.subarray(0, offset));
  header.writeInt32LE(MULTILINGUAL_VOCAB, 4);
  const parts: Buffer[] = [header];
  while (offset < source.length) {
    const start = offset;
    const dimensions = int32();
    const nameLength = int32();
    const type = int32();
    const shape = Array.from({ length: dimensions }, int32);
    const name = source.toString('utf8', offset, offset + nameLength);
    offset += nameLength;
    const bytesPerElement = BYTES_PER_ELEMENT[type];
    if (!bytesPerElement) throw new Error(`tensor ${name} has ggml type ${type}; only f32/f16 models can be converted`);
    const dataBytes = shape.reduce((product, size) => product * size, 1) * bytesPerElement;
    const tensorHeader = Buffer.from(source.subarray(start, offset));
    const data = source.subarray(offset, offset + dataBytes);
    offset += dataBytes;
    if (name === TOKEN_EMBEDDING) {
      tensorHeader.writeInt32LE(MULTILINGUAL_VOCAB, 12 + 4);
      parts.push(tensorHeader, data, Buffer.alloc(textState * bytesPerElement));
    } else {
      parts.push(tensorHeader, data);
    }
  }
  await writeFile(target, Buffer.concat(parts));
}
