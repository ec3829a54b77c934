/**
 * `speechbridge stream <file>`: sends an audio file (any container ffmpeg reads) to a running
 * speechbridge over one of its WebSocket protocols, at real-time speed or --fast, prints what
 * comes back as it arrives, saves the reply audio, and ends with a summary.
 */
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { decodeAudio } from '../audio/ffmpeg.ts';
import { resample } from '../audio/resample.ts';
import { SpeechbridgeError } from '../engine/errors.ts';
import { clientFlags, resolveClientFlags, TOKEN_VARIABLE, type ClientFlags } from './clients/client-flags.ts';
import { runClientSession, type SessionEnd } from './clients/client-session.ts';
import { createClient } from './clients/create-client.ts';
import { SessionReport } from './clients/session-report.ts';
import { WavFileWriter } from './clients/wav-file-writer.ts';

/** The file is decoded once at 24 kHz, the rate of the realtime and gateway protocols; transcriptions takes 16 kHz. */
const DECODE_SAMPLE_RATE = 24_000;

interface StreamFlags extends ClientFlags {
  fast?: boolean;
}

export function registerStreamCommand(program: Command): void {
  const command = program
    .command('stream')
    .description('send an audio file (WAV, MP3, WebM/Opus, Ogg, M4A, FLAC…) to a running speechbridge in real time and print the transcripts and replies as they arrive')
    .argument('<file>', 'audio file')
    .addOption(new Option('--fast', 'send the audio as fast as the connection takes it instead of in real time'));
  clientFlags(command, 30);
  command.addHelpText(
    'after',
    `
The token comes from --token or the ${TOKEN_VARIABLE} environment variable.
Exit status: 0 when every turn got its results, 1 when the server cannot be reached,
refuses the token, closes early or the results do not come within --timeout.

Examples:
  speechbridge stream question.webm --fast -o reply.wav
  speechbridge stream call.mp3 --protocol transcriptions --json
  speechbridge stream talk.wav --protocol gateway --url ws://gpu-box:8080 --token "$TOKEN"`,
  );
  command.action(async (file: string, flags: StreamFlags) => {
    const options = resolveClientFlags(flags);
    const bytes = await readFile(file).catch((error: NodeJS.ErrnoException) => {
      throw new SpeechbridgeError('invalid_value', `cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`, { param: 'file' });
    });
    const audio = await decodeAudio(bytes, { sampleRate: DECODE_SAMPLE_RATE });
    const report = new SessionReport({ json: options.json, out: process.stdout, err: process.stderr, inPlace: process.stdout.isTTY === true && !options.json });
    const replyFile = options.output ? new WavFileWriter(options.output) : undefined;
    const interrupted = new AbortController();
    const onSigint = () => interrupted.abort(new SpeechbridgeError('internal_error', 'interrupted'));
    process.once('SIGINT', onSigint);
    let end: SessionEnd;
    try {
      end = await runClientSession({
        createClient: (onEvent) => createClient(options.protocol, { ...options, onEvent }),
        source: (sampleRate) => fileSource(audio.samples, sampleRate),
        paced: flags.fast !== true,
        timeoutMs: options.timeoutMs,
        report,
        replyFile,
        stopInput: new AbortController().signal,
        signal: interrupted.signal,
      });
    } catch (error) {
      if (!interrupted.signal.aborted) throw error;
      end = { type: 'stopped' };
    } finally {
      process.off('SIGINT', onSigint);
    }
    report.printSummary({ ended: describeEnd(end, interrupted.signal.aborted), ...(replyFile && { replyFile: replyFile.path }) });
    if (end.type === 'server_closed') report.notice(`the server closed the connection before the file was sent (${end.code}${end.reason ? `: ${end.reason}` : ''})`);
    if (end.type !== 'finished') process.exitCode = interrupted.signal.aborted ? 130 : 1;
  });

  async function* fileSource(samples: Int16Array, sampleRate: number): AsyncGenerator<Int16Array> {
    yield sampleRate === DECODE_SAMPLE_RATE ? samples : (await resample({ samples, sampleRate: DECODE_SAMPLE_RATE }, sampleRate)).samples;
  }
}

export function describeEnd(end: SessionEnd, interrupted: boolean): string {
  if (interrupted) return 'interrupted';
  switch (end.type) {
    case 'finished':
      return 'end of audio';
    case 'stopped':
      return 'stopped';
    case 'timed_out':
      return `timed out after ${end.seconds} s`;
    case 'server_closed':
      return 'server closed the connection';
  }
}
