/**
 * `speechbridge stream <file>`: sends an audio file (any container ffmpeg reads) to a running
 * speechbridge over one of its WebSocket protocols, at real-time speed or --fast, prints what
 * comes back as it arrives, saves the reply audio, and ends with a summary.
 */
import { Command, Option } from 'commander';
import { SpeechbridgeError } from '../errors/registry.ts';
import { checkAudioFile, decodeAudioFile } from './clients/audio-file-source.ts';
import { clientFlags, resolveClientFlags, TOKEN_VARIABLE, type ClientFlags } from './clients/client-flags.ts';
import { runClientSession, type SessionEnd } from './clients/client-session.ts';
import { SessionReport } from './clients/session-report.ts';
import { onStdoutClosed, STDOUT_CLOSED_EXIT_CODE } from './clients/stdout-closed.ts';
import { WavFileWriter } from './clients/wav-file-writer.ts';

interface StreamFlags extends ClientFlags {
  fast?: boolean;
}

export function registerStreamCommand(program: Command): void {
  const command = program
    .command('stream')
    .description(
      'send an audio file (WAV, MP3, WebM/Opus, Ogg, M4A, FLAC…) to a running speechbridge in real time and print the transcripts and replies as they arrive',
    )
    .argument('<file>', 'audio file')
    .addOption(new Option('--fast', 'send the audio as fast as the connection takes it instead of in real time'));
  clientFlags(command, 30);
  command.addHelpText(
    'after',
    `
The token comes from --token or the ${TOKEN_VARIABLE} environment variable. A wss:// server
with a self-signed certificate is trusted with NODE_EXTRA_CA_CERTS=/path/to/cert.pem.
Exit status: 0 when every turn got its results, 1 when the server cannot be reached,
refuses the token, closes early, reports an error or the results do not come within
--timeout, 2 for a bad flag or a file that cannot be read; 130 after Ctrl+C, 143 after
SIGTERM.

Examples:
  speechbridge stream question.webm --fast -o reply.wav
  speechbridge stream call.mp3 --protocol transcriptions --json
  speechbridge stream talk.wav --protocol gateway --url ws://gpu-box:8080 --token "$TOKEN"`,
  );
  command.action(async (file: string, flags: StreamFlags) => {
    const options = resolveClientFlags(flags);
    await checkAudioFile(file);
    const report = new SessionReport({ json: options.json, out: process.stdout, err: process.stderr, inPlace: process.stdout.isTTY === true && !options.json });
    const replyFile = options.output ? new WavFileWriter(options.output) : undefined;
    await replyFile?.check();
    const interrupted = new AbortController();
    let terminated = false;
    const onSigint = () => interrupted.abort(new SpeechbridgeError('internal_error', 'interrupted'));
    const onSigterm = () => {
      terminated = true;
      onSigint();
    };
    process.once('SIGINT', onSigint);
    process.once('SIGTERM', onSigterm);
    let stdoutClosed = false;
    onStdoutClosed(() => {
      stdoutClosed = true;
      onSigint();
    });
    // The clients (ws, zod) load when a session starts, not with the command line.
    const { createClient } = await import('./clients/create-client.ts');
    let end: SessionEnd;
    try {
      end = await runClientSession({
        createClient: (onEvent) => createClient(options.protocol, { ...options, onEvent }),
        // Decoded as it is sent, at the client's rate; the first audio is awaited before connecting, so a file that is not audio fails first.
        source: (sampleRate, signal) => decodeAudioFile(file, sampleRate, signal),
        primeSource: true,
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
      process.off('SIGTERM', onSigterm);
    }
    if (end.type === 'server_closed') {
      report.notice(
        `the server closed the connection ${end.finishing ? 'before the last results came' : 'before the file was sent'} (${end.code}${end.reason ? `: ${end.reason}` : ''})`,
      );
    }
    if (replyFile && !replyFile.written) report.notice(`no reply audio came: ${replyFile.path} was not written`);
    report.printSummary({ ended: describeEnd(end, interrupted.signal.aborted), ...(replyFile?.written && { replyFile: replyFile.path }) });
    if (end.type !== 'finished' || report.summary().errors > 0)
      process.exitCode = stdoutClosed ? STDOUT_CLOSED_EXIT_CODE : interrupted.signal.aborted ? (terminated ? 143 : 130) : 1;
  });
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
