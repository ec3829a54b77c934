/**
 * Writes whisper.cpp ggml models with the exact tensor names, shapes and types of tiny,
 * tiny.en, base and base.en and every weight zero, so tests and benchmarks exercise whisper's
 * real loading and compute cost (a 3 s clip costs what it costs with real weights) without
 * model files that cannot be downloaded here. Their words are meaningless.
 *
 * The layout is the one whisper.cpp's models/convert-pt-to-ggml.py writes and
 * whisper_model_load() reads, with no padding anywhere:
 *   magic "ggml" (0x67676d6c); 11 int32 hyperparameters (n_vocab, n_audio_ctx, n_audio_state,
 *   n_audio_head, n_audio_layer, n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels,
 *   ftype); the mel filterbank (int32 n_mels, int32 n_fft, n_mels × n_fft float32); the
 *   vocabulary (int32 count, then per token an int32 length and its bytes); then per tensor:
 *   int32 n_dims, int32 name length, int32 type (0 f32, 1 f16), n_dims int32 sizes (ggml
 *   order, innermost first), the name, and the data.
 * Matrices are f16 (ftype 1), vectors, biases and positional embeddings f32, as the converter
 * stores them. The vocabulary is made up but for its first 256 tokens, the single bytes in
 * GPT-2's byte order as in the real one: whisper.cpp looks up the token " " by its text (and
 * aborts when it is missing), adds the special tokens past the file's words itself, and
 * tells English-only from multilingual by n_vocab (51,864 or 51,865).
 */
import { createWriteStream, existsSync, statSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';

export type ZeroModelName = 'tiny' | 'tiny.en' | 'base' | 'base.en';

const GGML_MAGIC = 0x67676d6c;
const F32 = 0;
const F16 = 1;
/** whisper.cpp tells English-only from multilingual models by this count alone. */
const ENGLISH_VOCAB = 51_864;
const MULTILINGUAL_VOCAB = 51_865;
/** The converter writes the tokenizer's 50,257 byte-level tokens; the last is end of text. */
const FILE_WORDS = 50_257;
const AUDIO_CONTEXT = 1500;
const TEXT_CONTEXT = 448;
const MELS = 80;
/** 400-sample FFT at 16 kHz: 201 frequency bins. */
const FFT_BINS = 201;

/** Width, attention heads and layers (the same for encoder and decoder) of each size. */
const SIZES = { tiny: { state: 384, heads: 6, layers: 4 }, base: { state: 512, heads: 8, layers: 6 } } as const;

export interface TensorSpec {
  name: string;
  type: typeof F32 | typeof F16;
  /** ggml order: innermost dimension first. */
  shape: number[];
}

export interface ZeroModelSpec {
  hparams: number[];
  tensors: TensorSpec[];
}

export function zeroModelSpec(name: ZeroModelName): ZeroModelSpec {
  const size = SIZES[name.startsWith('tiny') ? 'tiny' : 'base'];
  const vocab = name.endsWith('.en') ? ENGLISH_VOCAB : MULTILINGUAL_VOCAB;
  const state = size.state;
  const tensors: TensorSpec[] = [];
  const f32 = (tensorName: string, ...shape: number[]) => tensors.push({ name: tensorName, type: F32, shape });
  const f16 = (tensorName: string, ...shape: number[]) => tensors.push({ name: tensorName, type: F16, shape });
  const attention = (prefix: string) => {
    f32(`${prefix}_ln.weight`, state);
    f32(`${prefix}_ln.bias`, state);
    f16(`${prefix}.query.weight`, state, state);
    f32(`${prefix}.query.bias`, state);
    f16(`${prefix}.key.weight`, state, state);
    f16(`${prefix}.value.weight`, state, state);
    f32(`${prefix}.value.bias`, state);
    f16(`${prefix}.out.weight`, state, state);
    f32(`${prefix}.out.bias`, state);
  };
  const block = (prefix: string, crossAttention: boolean) => {
    f32(`${prefix}.mlp_ln.weight`, state);
    f32(`${prefix}.mlp_ln.bias`, state);
    f16(`${prefix}.mlp.0.weight`, state, 4 * state);
    f32(`${prefix}.mlp.0.bias`, 4 * state);
    f16(`${prefix}.mlp.2.weight`, 4 * state, state);
    f32(`${prefix}.mlp.2.bias`, state);
    attention(`${prefix}.attn`);
    if (crossAttention) attention(`${prefix}.cross_attn`);
  };

  f32('encoder.positional_embedding', state, AUDIO_CONTEXT);
  f16('encoder.conv1.weight', 3, MELS, state);
  f32('encoder.conv1.bias', 1, state);
  f16('encoder.conv2.weight', 3, state, state);
  f32('encoder.conv2.bias', 1, state);
  f32('encoder.ln_post.weight', state);
  f32('encoder.ln_post.bias', state);
  for (let layer = 0; layer < size.layers; layer++) block(`encoder.blocks.${layer}`, false);
  f32('decoder.positional_embedding', state, TEXT_CONTEXT);
  f16('decoder.token_embedding.weight', state, vocab);
  f32('decoder.ln.weight', state);
  f32('decoder.ln.bias', state);
  for (let layer = 0; layer < size.layers; layer++) block(`decoder.blocks.${layer}`, true);

  const hparams = [vocab, AUDIO_CONTEXT, state, size.heads, size.layers, TEXT_CONTEXT, state, size.heads, size.layers, MELS, F16];
  return { hparams, tensors };
}

/** Bytes of the tensor section: headers and data of every tensor. */
export function tensorSectionBytes(spec: ZeroModelSpec): number {
  return spec.tensors.reduce((total, tensor) => total + tensorHeader(tensor).length + dataBytes(tensor), 0);
}

function dataBytes(tensor: TensorSpec): number {
  return tensor.shape.reduce((product, size) => product * size, 1) * (tensor.type === F32 ? 4 : 2);
}

function int32s(values: number[]): Buffer {
  const buffer = Buffer.alloc(values.length * 4);
  values.forEach((value, index) => buffer.writeInt32LE(value, index * 4));
  return buffer;
}

function tensorHeader(tensor: TensorSpec): Buffer {
  const name = Buffer.from(tensor.name, 'utf8');
  return Buffer.concat([int32s([tensor.shape.length, name.length, tensor.type, ...tensor.shape]), name]);
}

/**
 * The file's 50,257 words: the 256 single bytes in GPT-2's order (printable ones first, so
 * " " is token 220 as in the real vocabulary), made-up words after them, end of text last.
 */
let cachedVocabulary: Buffer[] | undefined;

function vocabulary(): Buffer[] {
  cachedVocabulary ??= makeVocabulary();
  return cachedVocabulary;
}

function makeVocabulary(): Buffer[] {
  const printable = (byte: number) => (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || (byte >= 174 && byte <= 255);
  const bytes = [
    ...Array.from({ length: 256 }, (_, byte) => byte).filter(printable),
    ...Array.from({ length: 256 }, (_, byte) => byte).filter((byte) => !printable(byte)),
  ];
  const words = bytes.map((byte) => Buffer.of(byte));
  while (words.length < FILE_WORDS - 1) words.push(Buffer.from(` w${words.length}`));
  words.push(Buffer.from('<|endoftext|>'));
  return words;
}

/**
 * The 80-band mel filterbank whisper's front end uses (librosa.filters.mel(sr=16000,
 * n_fft=400, n_mels=80): Slaney's mel scale and area normalisation), so the spectrogram
 * whisper computes is the real one.
 */
export function melFilterbank(): Float32Array {
  const sampleRate = 16000;
  const frequencyStep = 200 / 3;
  const logStartHz = 1000;
  const logStartMel = logStartHz / frequencyStep;
  const logStep = Math.log(6.4) / 27;
  const hzToMel = (hz: number) => (hz >= logStartHz ? logStartMel + Math.log(hz / logStartHz) / logStep : hz / frequencyStep);
  const melToHz = (mel: number) => (mel >= logStartMel ? logStartHz * Math.exp(logStep * (mel - logStartMel)) : frequencyStep * mel);
  const topMel = hzToMel(sampleRate / 2);
  const edges = Array.from({ length: MELS + 2 }, (_, index) => melToHz((topMel * index) / (MELS + 1)));
  const bins = Array.from({ length: FFT_BINS }, (_, index) => (index * sampleRate) / 2 / (FFT_BINS - 1));
  const weights = new Float32Array(MELS * FFT_BINS);
  for (let band = 0; band < MELS; band++) {
    const norm = 2 / (edges[band + 2] - edges[band]);
    for (let bin = 0; bin < FFT_BINS; bin++) {
      const lower = (bins[bin] - edges[band]) / (edges[band + 1] - edges[band]);
      const upper = (edges[band + 2] - bins[bin]) / (edges[band + 2] - edges[band + 1]);
      weights[band * FFT_BINS + bin] = Math.max(0, Math.min(lower, upper)) * norm;
    }
  }
  return weights;
}

/** Writes the model to `file` (through a temporary file renamed into place). */
export async function writeZeroWhisperModel(name: ZeroModelName, file: string): Promise<void> {
  const spec = zeroModelSpec(name);
  const partial = `${file}.${process.pid}.part`;
  const out = createWriteStream(partial);
  const write = async (chunk: Buffer) => {
    if (!out.write(chunk)) await once(out, 'drain');
  };
  try {
    await write(int32s([GGML_MAGIC, ...spec.hparams]));
    const filters = melFilterbank();
    await write(Buffer.concat([int32s([MELS, FFT_BINS]), Buffer.from(filters.buffer, filters.byteOffset, filters.byteLength)]));
    const words: Buffer[] = [int32s([FILE_WORDS])];
    for (const word of vocabulary()) words.push(int32s([word.length]), word);
    await write(Buffer.concat(words));
    // One zero buffer, written as many times as a tensor needs (the largest is 39 MB of f16).
    const zeros = Buffer.alloc(1 << 20);
    for (const tensor of spec.tensors) {
      await write(tensorHeader(tensor));
      for (let left = dataBytes(tensor); left > 0; left -= zeros.length) await write(left >= zeros.length ? zeros : zeros.subarray(0, left));
    }
    out.end();
    await once(out, 'finish');
    await rename(partial, file);
  } catch (error) {
    out.destroy();
    await rm(partial, { force: true });
    throw error;
  }
}

/** Expected size of a generated model, to reuse one written by an earlier run. */
function expectedSize(name: ZeroModelName): number {
  const spec = zeroModelSpec(name);
  const vocabularyBytes = vocabulary().reduce((total, word) => total + 4 + word.length, 4);
  return 4 + spec.hparams.length * 4 + 8 + MELS * FFT_BINS * 4 + vocabularyBytes + tensorSectionBytes(spec);
}

/** Where generated models are kept between runs (they take 0.1–0.3 s each to write). */
export function zeroModelDir(): string {
  // The version changes whenever the content would change at the same size.
  return path.join(os.tmpdir(), 'speechbridge-zero-models-1');
}

/** Path of the zero-weight model `name`, written on first use and reused afterwards. */
export async function zeroWhisperModel(name: ZeroModelName): Promise<string> {
  const dir = zeroModelDir();
  const file = path.join(dir, `zero-ggml-${name}.bin`);
  if (existsSync(file) && statSync(file).size === expectedSize(name)) return file;
  await mkdir(dir, { recursive: true });
  await writeZeroWhisperModel(name, file);
  return file;
}
