/**
 * The audio file of a multipart upload (/v1/audio/transcriptions, /upload): present, not
 * empty, and decoded by ffmpeg from any container into mono PCM16 at the rate a transcriber
 * wants.
 */
import { decodeAudio } from '../../audio/decode.ts';
import type { PcmAudio } from '../../audio/pcm.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';
import type { MultipartBody, UploadedFile } from './multipart.ts';

/** The `file` part, or a missing_file / empty_input error naming the field. */
export function requireAudioFile(upload: MultipartBody): UploadedFile {
  if (!upload.file && upload.fields.file !== undefined) {
    // What curl sends for `-F file=speech.wav`: the name as text, where `-F file=@speech.wav` sends the file.
    throw new SpeechbridgeError(
      'missing_file',
      'form field "file" is a text field, not a file: attach the audio as a file part (with curl, -F file=@speech.wav)',
      {
        param: 'file',
      },
    );
  }
  if (!upload.file)
    throw new SpeechbridgeError('missing_file', 'the multipart body has no "file" part: send the audio as form field "file"', { param: 'file' });
  if (upload.file.bytes.length === 0)
    throw new SpeechbridgeError('empty_input', `uploaded file ${JSON.stringify(upload.file.filename)} is empty`, { param: 'file' });
  return upload.file;
}

/** Decodes the file; unreadable bytes fail with unreadable_audio, a file without samples with empty_input. */
export async function decodeUploadedAudio(file: UploadedFile, sampleRate: number, signal: AbortSignal): Promise<PcmAudio> {
  const audio = await decodeAudio(file.bytes, { sampleRate, signal });
  if (audio.samples.length === 0)
    throw new SpeechbridgeError('empty_input', `uploaded file ${JSON.stringify(file.filename)} holds no audio samples`, { param: 'file' });
  return audio;
}
