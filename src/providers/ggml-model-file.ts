/**
 * Reads what a whisper.cpp ggml model file says about itself, without loading it: the
 * hyperparameters, and whether every tensor the file announces is there in full. The layout
 * is the one whisper.cpp's models/convert-pt-to-ggml.py writes and whisper_model_load()
 * reads, with no padding: magic "ggml", 11 int32 hyperparameters, the mel filterbank, the
 * vocabulary, then per tensor its dimensions, name, ggml type and data.
 *
 * Only headers are read (a few hundred bytes per tensor, 167 tensors for tiny), so checking a
 * 3 GB large-v3 takes milliseconds; a download that broke off shows as a tensor running past
 * the end of the file.
 */
import { open, type FileHandle } from 'node:fs/promises';

export const GGML_MAGIC = 0x67676d6c;

export interface WhisperHyperparameters {
  vocabulary: number;
  audioContext: number;
  audioState: number;
  audioHeads: number;
  audioLayers: number;
  textContext: number;
  textState: number;
  textHeads: number;
  textLayers: number;
  mels: number;
  /** ggml file type: 0 f32, 1 f16, else a quantization (the version factor removed). */
  fileType: number;
}

export type GgmlCheck = { ok: true; hparams: WhisperHyperparameters; tensors: number; sizeBytes: number } | { ok: false; problem: string };

/** Bytes per block and elements per block of the ggml types whisper.cpp models use. */
const TYPE_SIZES: Record<number, { bytes: number; elements: number }> = {
  0: { bytes: 4, elements: 1 }, // f32
  1: { bytes: 2, elements: 1 }, // f16
  2: { bytes: 18, elements: 32 }, // q4_0
  3: { bytes: 20, elements: 32 }, // q4_1
  6: { bytes: 22, elements: 32 }, // q5_0
  7: { bytes: 24, elements: 32 }, // q5_1
  8: { bytes: 34, elements: 32 }, // q8_0
  10: { bytes: 84, elements: 256 }, // q2_k
  11: { bytes: 110, elements: 256 }, // q3_k
  12: { bytes: 144, elements: 256 }, // q4_k
  13: { bytes: 176, elements: 256 }, // q5_k
  14: { bytes: 210, elements: 256 }, // q6_k
};

/** whisper.cpp stores the quantization format version in the thousands of ftype. */
const QUANTIZATION_VERSION_FACTOR = 1000;

/** ggml ftype → the suffix whisper.cpp's published quantized files carry. */
const FILE_TYPE_SUFFIX: Record<number, string> = {
  2: 'q4_0',
  3: 'q4_1',
  7: 'q8_0',
  8: 'q5_0',
  9: 'q5_1',
  10: 'q2_k',
  11: 'q3_k',
  12: 'q4_k',
  13: 'q5_k',
  14: 'q6_k',
};

/** Sizes (encoder layers, width) of the published model families. */
const FAMILIES: Array<{ name: string; layers: number; state: number }> = [
  { name: 'tiny', layers: 4, state: 384 },
  { name: 'base', layers: 6, state: 512 },
  { name: 'small', layers: 12, state: 768 },
  { name: 'medium', layers: 24, state: 1024 },
  { name: 'large', layers: 32, state: 1280 },
];

const ENGLISH_ONLY_VOCABULARY = 51_864;

/** Checks `file` is a complete whisper.cpp ggml model; says what is wrong when it is not. */
export async function checkGgmlModel(file: string): Promise<GgmlCheck> {
  const handle = await open(file, 'r');
  try {
    const sizeBytes = (await handle.stat()).size;
    const reader = new HeaderReader(handle, sizeBytes);
    if (sizeBytes < 48 || (await reader.int32()) !== GGML_MAGIC)
      return { ok: false, problem: 'it does not start with the ggml magic, so it is not a whisper.cpp ggml model (.bin)' };
    const values = await reader.int32s(11);
    const hparams: WhisperHyperparameters = {
      vocabulary: values[0],
      audioContext: values[1],
      audioState: values[2],
      audioHeads: values[3],
      audioLayers: values[4],
      textContext: values[5],
      textState: values[6],
      textHeads: values[7],
      textLayers: values[8],
      mels: values[9],
      fileType: values[10] % QUANTIZATION_VERSION_FACTOR,
    };
    if (values.slice(0, 10).some((value) => value <= 0 || value > 1_000_000)) {
      return { ok: false, problem: `its hyperparameters (${values.join(', ')}) are not a whisper model's; is it a ggml file of another kind of model?` };
    }
    const [melCount, fftCount] = await reader.int32s(2);
    reader.skip(melCount * fftCount * 4);
    const words = await reader.int32();
    for (let word = 0; word < words; word++) reader.skip(await reader.int32());
    let tensors = 0;
    while (reader.offset < sizeBytes) {
      const [dimensions, nameLength, type] = await reader.int32s(3);
      const shape = await reader.int32s(dimensions);
      const size = TYPE_SIZES[type];
      if (dimensions < 1 || dimensions > 4 || nameLength <= 0 || nameLength > 256 || !size || shape.some((extent) => extent <= 0)) {
        return {
          ok: false,
          problem: `tensor ${tensors + 1}'s header at byte ${reader.offset} is not valid (ggml type ${type}, ${dimensions} dimensions); the file is damaged or of an unknown kind`,
        };
      }
      reader.skip(nameLength);
      reader.skip((shape.reduce((product, extent) => product * extent, 1) / size.elements) * size.bytes);
      tensors++;
      if (reader.offset > sizeBytes) {
        return {
          ok: false,
          problem: `it is incomplete: ${sizeBytes} bytes, and tensor ${tensors} alone needs the file to reach ${reader.offset} (a download that broke off?)`,
        };
      }
    }
    return { ok: true, hparams, tensors, sizeBytes };
  } catch (error) {
    if (error instanceof TruncatedHeader)
      return { ok: false, problem: `it is incomplete: it ends inside its headers at ${error.offset} bytes (a download that broke off?)` };
    throw error;
  } finally {
    await handle.close();
  }
}

/** "tiny.en", "large-v3-turbo-q5_0"…: the published name a file of these dimensions would have. */
export function modelNameFor(hparams: WhisperHyperparameters): string {
  const family = FAMILIES.find((candidate) => candidate.layers === hparams.audioLayers && candidate.state === hparams.audioState);
  let name = family?.name ?? `custom-${hparams.audioLayers}x${hparams.audioState}`;
  if (name === 'large' && hparams.mels === 128) name = hparams.textLayers === 4 ? 'large-v3-turbo' : 'large-v3';
  if (hparams.vocabulary === ENGLISH_ONLY_VOCABULARY) name += '.en';
  const suffix = FILE_TYPE_SUFFIX[hparams.fileType];
  return suffix ? `${name}-${suffix}` : name;
}

class TruncatedHeader extends Error {
  constructor(readonly offset: number) {
    super(`truncated at ${offset}`);
  }
}

/**
 * Reads int32 fields at a moving offset through a 64 KB window, so the 50,000 vocabulary
 * lengths cost a few reads rather than one each; skipped spans (data, names) are never read.
 */
class HeaderReader {
  offset = 0;
  readonly #handle: FileHandle;
  readonly #size: number;
  #window = Buffer.alloc(0);
  #windowStart = 0;

  constructor(handle: FileHandle, size: number) {
    this.#handle = handle;
    this.#size = size;
  }

  async int32s(count: number): Promise<number[]> {
    const bytes = count * 4;
    if (this.offset + bytes > this.#size) throw new TruncatedHeader(this.#size);
    if (this.offset < this.#windowStart || this.offset + bytes > this.#windowStart + this.#window.length) {
      this.#window = Buffer.alloc(Math.max(WINDOW_BYTES, bytes));
      const { bytesRead } = await this.#handle.read(this.#window, 0, this.#window.length, this.offset);
      this.#window = this.#window.subarray(0, bytesRead);
      this.#windowStart = this.offset;
    }
    const at = this.offset - this.#windowStart;
    this.offset += bytes;
    return Array.from({ length: count }, (_, index) => this.#window.readInt32LE(at + index * 4));
  }

  async int32(): Promise<number> {
    return (await this.int32s(1))[0];
  }

  skip(bytes: number): void {
    this.offset += bytes;
  }
}

const WINDOW_BYTES = 64 * 1024;
