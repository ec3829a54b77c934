/**
 * The gateway protocol's audio format names and the raw bytes behind them. One scheme, the
 * name with an optional `_<rate>` suffix:
 *
 * - `pcm` is PCM16 little-endian mono at 24 kHz; `pcm_<rate>` picks another rate, one of
 *   8000, 16000, 22050, 24000, 44100, 48000 (`pcm16` is accepted as `pcm`).
 * - `ulaw` (also `mulaw`, `pcmu`, `g711_ulaw`, `ulaw_8000`) is G.711 μ-law at 8 kHz and
 *   `alaw` (also `pcma`, `g711_alaw`, `alaw_8000`) G.711 A-law at 8 kHz, one byte per sample.
 *
 * Names are case-insensitive. `ready` reports the canonical name (`pcm_24000`, `ulaw_8000`).
 */
import { type AudioWireFormat, decodeWireAudio, encodeWireAudio } from '../../audio/base64.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';

export interface GatewayAudioFormat {
  encoding: AudioWireFormat;
  sampleRate: number;
  /** Canonical name, e.g. `pcm_16000`. */
  name: string;
}

/** The default both ways: 24 kHz PCM16, the engine's own default rate. */
export const DEFAULT_PCM_SAMPLE_RATE = 24000;
/** Telephone to studio rates; 22050 is espeak-ng's own, 44100/48000 what browsers capture. */
export const PCM_SAMPLE_RATES = [8000, 16000, 22050, 24000, 44100, 48000] as const;
/** G.711 is defined at 8 kHz (ITU-T G.711). */
const G711_SAMPLE_RATE = 8000;

const ULAW_NAMES = new Set(['ulaw', 'mulaw', 'pcmu', 'g711_ulaw']);
const ALAW_NAMES = new Set(['alaw', 'pcma', 'g711_alaw']);

export const FORMAT_HELP = `pcm (24 kHz), pcm_<rate> with rate ${PCM_SAMPLE_RATES.join(', ')}, ulaw / mulaw / pcmu (8 kHz) or alaw / pcma (8 kHz)`;

/** The format a name stands for; throws unsupported_format naming `param` and the accepted names. */
export function parseAudioFormat(name: string, param: string): GatewayAudioFormat {
  const lower = name.trim().toLowerCase();
  const match = /^([a-z0-9]+?)(?:_(\d+))?$/.exec(lower);
  const base = match?.[1] ?? lower;
  const rate = match?.[2] === undefined ? undefined : Number(match[2]);
  if (base === 'pcm' || base === 'pcm16') {
    const sampleRate = rate ?? DEFAULT_PCM_SAMPLE_RATE;
    if ((PCM_SAMPLE_RATES as readonly number[]).includes(sampleRate)) return pcm(sampleRate);
    throw unsupported(name, param, `pcm rate ${sampleRate} is not offered; use one of ${PCM_SAMPLE_RATES.join(', ')}`);
  }
  if (ULAW_NAMES.has(lower) || lower === 'ulaw_8000' || lower === 'mulaw_8000')
    return { encoding: 'g711_ulaw', sampleRate: G711_SAMPLE_RATE, name: 'ulaw_8000' };
  if (ALAW_NAMES.has(lower) || lower === 'alaw_8000') return { encoding: 'g711_alaw', sampleRate: G711_SAMPLE_RATE, name: 'alaw_8000' };
  if (ULAW_NAMES.has(base) || ALAW_NAMES.has(base)) throw unsupported(name, param, 'G.711 runs at 8000 Hz only');
  throw unsupported(name, param, `use ${FORMAT_HELP}`);
}

export function pcm(sampleRate: number): GatewayAudioFormat {
  return { encoding: 'pcm16', sampleRate, name: `pcm_${sampleRate}` };
}

/** Raw frame bytes → PCM16 samples at the format's rate; throws invalid_audio for an odd PCM16 byte count. */
export function decodeAudioBytes(bytes: Uint8Array, format: GatewayAudioFormat, param: string): Int16Array {
  return decodeWireAudio(bytes, format.encoding, param, { formatName: format.name });
}

/**
 * Binary PCM16 frames form one byte stream, which a client piping a recorder (`arecord | websocat`)
 * splits wherever a read ends: a frame may end inside a sample. Its odd last byte waits here
 * for the next frame (1 byte held at most), so every split decodes as the unsplit stream.
 */
export class PcmByteCarry {
  private byte: number | null = null;

  /** The frame's whole samples' bytes, after the byte held from the frame before. */
  take(frame: Uint8Array): Uint8Array {
    const joined = this.byte === null ? frame : Buffer.concat([Uint8Array.of(this.byte), frame]);
    const even = joined.byteLength & ~1;
    this.byte = even < joined.byteLength ? joined[even] : null;
    return joined.subarray(0, even);
  }
}

/** PCM16 samples at the format's rate → the bytes of one binary frame. */
export function encodeAudioBytes(samples: Int16Array, format: GatewayAudioFormat): Buffer {
  return encodeWireAudio(samples, format.encoding);
}

function unsupported(name: string, param: string, hint: string): SpeechbridgeError {
  return new SpeechbridgeError('unsupported_format', `${param} ${JSON.stringify(name)} is not a supported audio format: ${hint}`, { param });
}
