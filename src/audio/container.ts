/**
 * Container sniffing from the first bytes, so uploads and streams need no trusted file name or
 * content type (browsers label MediaRecorder output `audio/webm;codecs=opus`, Safari `audio/mp4`,
 * curl often `application/octet-stream`). 12 bytes decide every case below.
 */

export type Container = 'wav' | 'webm' | 'ogg' | 'mp3' | 'mp4' | 'flac' | 'unknown';

/** Bytes sniffContainer needs to see to decide (RIFF....WAVE is the longest signature). */
export const SNIFF_BYTES = 12;

export function sniffContainer(bytes: Uint8Array): Container {
  // RIFF <size:4> WAVE.
  if (startsWith(bytes, 0, 'RIFF') && startsWith(bytes, 8, 'WAVE')) return 'wav';
  // EBML magic 1A 45 DF A3 opens every Matroska file; WebM is Matroska with a restricted codec set.
  if (bytes.length >= 4 && bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3) return 'webm';
  if (startsWith(bytes, 0, 'OggS')) return 'ogg';
  if (startsWith(bytes, 0, 'fLaC')) return 'flac';
  // ISO base media (MP4, M4A, 3GP, MOV): <box size:4> 'ftyp'.
  if (startsWith(bytes, 4, 'ftyp')) return 'mp4';
  // ID3v2 tag in front of MPEG audio frames.
  if (startsWith(bytes, 0, 'ID3')) return 'mp3';
  if (isMpegAudioFrameSync(bytes)) return 'mp3';
  return 'unknown';
}

/**
 * An MPEG audio frame header: 11 sync bits, a version other than the reserved 01, a layer other
 * than 00 (00 is what ADTS AAC carries there, so AAC is not taken for MP3), a bitrate index other
 * than 1111 and a sample-rate index other than 11.
 */
function isMpegAudioFrameSync(bytes: Uint8Array): boolean {
  if (bytes.length < 4) return false;
  if (bytes[0] !== 0xff || (bytes[1] & 0xe0) !== 0xe0) return false;
  const version = (bytes[1] >> 3) & 0x03;
  const layer = (bytes[1] >> 1) & 0x03;
  const bitrateIndex = bytes[2] >> 4;
  const sampleRateIndex = (bytes[2] >> 2) & 0x03;
  return version !== 0x01 && layer !== 0x00 && bitrateIndex !== 0x0f && sampleRateIndex !== 0x03;
}

function startsWith(bytes: Uint8Array, offset: number, signature: string): boolean {
  if (bytes.length < offset + signature.length) return false;
  for (let i = 0; i < signature.length; i++) {
    if (bytes[offset + i] !== signature.charCodeAt(i)) return false;
  }
  return true;
}
