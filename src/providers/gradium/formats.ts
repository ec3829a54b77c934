/**
 * The audio formats speechbridge exchanges with Gradium, by their setup names
 * (GRADIUM_STT_INPUT_FORMAT, GRADIUM_TTS_OUTPUT_FORMAT): raw PCM16 at a rate, or G.711 at 8 kHz.
 * `pcm` means 24 kHz for speech-to-text input and 48 kHz for text-to-speech output, as Gradium
 * documents. Gradium's `wav` and `opus` are containers for whole files; speechbridge streams raw
 * frames, so they are not offered.
 */
import type { AudioWireFormat } from '../../audio/base64.ts';

export interface GradiumAudioFormat {
  /** The name sent in setup (input_format / output_format). */
  name: string;
  sampleRate: number;
  /** How samples travel in the base64 `audio` field. */
  encoding: AudioWireFormat;
}

const SHARED: Readonly<Record<string, Omit<GradiumAudioFormat, 'name'>>> = {
  pcm_8000: { sampleRate: 8000, encoding: 'pcm16' },
  pcm_16000: { sampleRate: 16000, encoding: 'pcm16' },
  pcm_24000: { sampleRate: 24000, encoding: 'pcm16' },
  ulaw_8000: { sampleRate: 8000, encoding: 'g711_ulaw' },
  alaw_8000: { sampleRate: 8000, encoding: 'g711_alaw' },
};

export const STT_INPUT_FORMATS: Readonly<Record<string, Omit<GradiumAudioFormat, 'name'>>> = { pcm: { sampleRate: 24000, encoding: 'pcm16' }, ...SHARED };

export const TTS_OUTPUT_FORMATS: Readonly<Record<string, Omit<GradiumAudioFormat, 'name'>>> = {
  pcm: { sampleRate: 48000, encoding: 'pcm16' },
  ...SHARED,
};

export function sttInputFormat(name: string): GradiumAudioFormat | undefined {
  const format = STT_INPUT_FORMATS[name];
  return format && { name, ...format };
}

export function ttsOutputFormat(name: string): GradiumAudioFormat | undefined {
  const format = TTS_OUTPUT_FORMATS[name];
  return format && { name, ...format };
}
