/**
 * The realtime protocol's audio formats and their two spellings: GA objects
 * (`{type:'audio/pcm', rate:24000}`, `{type:'audio/pcmu'}`, `{type:'audio/pcma'}`) and beta
 * strings (`pcm16`, `g711_ulaw`, `g711_alaw`). Each maps to one base64 framing
 * (src/audio/base64.ts) and the sample rate the engine runs that side of the session at.
 */
import { type AudioWireFormat, decodeBase64Frame, type DecodedFrame } from '../../audio/base64.ts';
import { SpeechbridgeError, toSpeechbridgeError } from '../../errors/registry.ts';

export interface AudioFormat {
  encoding: AudioWireFormat;
  /** 24000 for pcm16 unless a client asks for 16000 (our extension); G.711 is always 8000. */
  sampleRate: number;
}

/** OpenAI's default for both directions: PCM16 at 24 kHz (20 ms = 960 bytes). */
export const DEFAULT_AUDIO_FORMAT: Readonly<AudioFormat> = Object.freeze({ encoding: 'pcm16', sampleRate: 24000 });

/** PCM rates a client may ask for: OpenAI's 24 kHz, and 16 kHz so ASR-rate clients skip a resample. */
export const PCM_SAMPLE_RATES = [16000, 24000] as const;

/** G.711 is defined at 8 kHz (ITU-T G.711), one byte per sample. */
const G711_SAMPLE_RATE = 8000;

export type GaAudioFormat = { type: 'audio/pcm'; rate: number } | { type: 'audio/pcmu' } | { type: 'audio/pcma' };
export type BetaAudioFormat = AudioWireFormat;

export function fromGaFormat(format: { type: 'audio/pcm'; rate?: number } | { type: 'audio/pcmu' } | { type: 'audio/pcma' }): AudioFormat {
  switch (format.type) {
    case 'audio/pcm':
      return { encoding: 'pcm16', sampleRate: format.rate ?? DEFAULT_AUDIO_FORMAT.sampleRate };
    case 'audio/pcmu':
      return { encoding: 'g711_ulaw', sampleRate: G711_SAMPLE_RATE };
    case 'audio/pcma':
      return { encoding: 'g711_alaw', sampleRate: G711_SAMPLE_RATE };
  }
}

export function fromBetaFormat(format: BetaAudioFormat): AudioFormat {
  return format === 'pcm16' ? { ...DEFAULT_AUDIO_FORMAT } : { encoding: format, sampleRate: G711_SAMPLE_RATE };
}

export function toGaFormat(format: AudioFormat): GaAudioFormat {
  switch (format.encoding) {
    case 'pcm16':
      return { type: 'audio/pcm', rate: format.sampleRate };
    case 'g711_ulaw':
      return { type: 'audio/pcmu' };
    case 'g711_alaw':
      return { type: 'audio/pcma' };
  }
}

export function toBetaFormat(format: AudioFormat): BetaAudioFormat {
  return format.encoding;
}

/**
 * The format that matches a sample rate the engine reports, keeping `preferred` when it
 * already fits: 8000 can only be G.711 (μ-law unless A-law was asked for), anything else PCM16.
 */
export function formatForRate(sampleRate: number, preferred: AudioFormat): AudioFormat {
  if (preferred.sampleRate === sampleRate) return preferred;
  if (sampleRate === G711_SAMPLE_RATE) return { encoding: preferred.encoding === 'g711_alaw' ? 'g711_alaw' : 'g711_ulaw', sampleRate };
  return { encoding: 'pcm16', sampleRate };
}

/**
 * A client event's base64 audio in the session's input format. Audio that does not decode is
 * `invalid_value` naming the field, as OpenAI answers ("Invalid 'audio'"); the message says
 * what is wrong with it (the alphabet, the padding, an odd PCM16 byte count).
 */
export function decodeClientAudio(base64: string, format: AudioFormat, param: string): Int16Array {
  return decodeClientFrame(base64, format, param).audio;
}

/** As decodeClientAudio, and for G.711 the client's bytes too (a recognizer that takes G.711 gets them as they are). */
export function decodeClientFrame(base64: string, format: AudioFormat, param: string): DecodedFrame {
  try {
    return decodeBase64Frame(base64, format.encoding, param);
  } catch (error) {
    const failure = toSpeechbridgeError(error);
    if (failure.code !== 'invalid_audio') throw failure;
    throw new SpeechbridgeError('invalid_value', `Invalid '${param}': ${failure.message}`, { param: failure.param ?? param, cause: failure });
  }
}
