/**
 * `speechbridge listen`: live microphone (sox or arecord) — or raw PCM from stdin, a file or a
 * pipe — to a running speechbridge; transcripts are printed as they come and replies played.
 * Ctrl+C ends the session cleanly: the turn being spoken is committed, its results are awaited
 * (bounded by --timeout), the socket is closed and a summary printed. A second Ctrl+C quits
 * at once.
 */
import { Command, Option } from 'commander';
import { SpeechbridgeError } from '../errors/registry.ts';
import { checkAudioFile } from './clients/audio-file-source.ts';
import { alsaDevice, arecordListing, chooseRecorder, choosePlayer, listCaptureDevices, type PlayerTool, type RecorderTool } from './clients/audio-tools.ts';
import { clientFlags, positiveNumber, resolveClientFlags, TOKEN_VARIABLE, type ClientFlags } from './clients/client-flags.ts';
import { runClientSession, type SessionEnd } from './clients/client-session.ts';
import { recordMicrophone } from './clients/microphone.ts';
import { readRawPcm } from './clients/raw-pcm-input.ts';
import { SessionReport } from './clients/session-report.ts';
import { onStdoutClosed, STDOUT_CLOSED_EXIT_CODE } from './clients/stdout-closed.ts';
import { Speaker } from './clients/speaker.ts';
import { WavFileWriter } from './clients/wav-file-writer.ts';
import { describeEnd } from './stream-command.ts';

interface ListenFlags extends ClientFlags {
  device?: string;
  recorder: RecorderTool | 'auto';
  listDevices?: boolean;
  duration?: number;
  input?: string;
  rate: number;
  play: boolean;
  player: PlayerTool | 'auto';
}

export function registerListenCommand(program: Command): void {
  const command = program
    .command('listen')
    .description('talk to a running speechbridge through the microphone: live transcripts, spoken replies')
    .addOption(
      new Option(
        '--device <name-or-number>',
        'capture device: a card number (2, or 2,1 for card 2 device 1), an ALSA name (hw:1,0, default) or a card name; default: the system default',
      ),
    )
    .addOption(new Option('--list-devices', 'list the capture devices and exit'))
    .addOption(new Option('--recorder <tool>', 'microphone recorder').choices(['auto', 'sox', 'arecord']).default('auto'))
    .addOption(new Option('--duration <seconds>', 'stop listening after this long').argParser(positiveNumber('--duration')))
    .addOption(new Option('--input <path>', 'read raw PCM16 little-endian mono from a file or pipe instead of the microphone; - is stdin'))
    .addOption(new Option('--rate <hz>', 'sample rate of the --input audio').default(24000).argParser(positiveNumber('--rate')))
    .addOption(new Option('--no-play', 'do not play the replies'))
    .addOption(new Option('--player <tool>', 'reply player').choices(['auto', 'play', 'aplay']).default('auto'));
  clientFlags(command, 10);
  command.addHelpText(
    'after',
    `
The token comes from --token or the ${TOKEN_VARIABLE} environment variable. A wss:// server
with a self-signed certificate is trusted with NODE_EXTRA_CA_CERTS=/path/to/cert.pem.
Ctrl+C ends the session: the turn being spoken is finished, then a summary is printed;
a second Ctrl+C (or SIGTERM) quits at once. Exit status: 0, or 1 when the server cannot be
reached, closes early, reports an error or (without Ctrl+C) the last results do not come
within --timeout; 130 after a second Ctrl+C, 143 after SIGTERM.

Examples:
  speechbridge listen                                   # default microphone, spoken replies
  speechbridge listen --list-devices
  speechbridge listen --device 1 --mode transcribe --protocol transcriptions
  speechbridge say "turn on the light" | speechbridge listen --input - --no-play`,
  );
  command.action(async (flags: ListenFlags) => {
    if (flags.listDevices) {
      await printDevices();
      return;
    }
    const options = resolveClientFlags(flags);
    const report = new SessionReport({ json: options.json, out: process.stdout, err: process.stderr, inPlace: process.stdout.isTTY === true && !options.json });
    const input = flags.input;
    if (input !== undefined && input !== '-') await checkAudioFile(input);
    // The recorder and device are checked before connecting, so a missing microphone is reported as such.
    const recorder = input === undefined ? await chooseRecorder(flags.recorder) : undefined;
    const device = input === undefined && flags.device !== undefined ? await alsaDevice(flags.device) : undefined;
    const playerTool = flags.play ? await choosePlayer(flags.player) : undefined;
    if (flags.play && !playerTool) report.notice('no player found (play from sox, or aplay): replies are not played; install sox, or pass --no-play');
    const speaker = playerTool ? new Speaker(playerTool, (message) => report.notice(message)) : undefined;
    const replyFile = options.output ? new WavFileWriter(options.output) : undefined;
    await replyFile?.check();

    const stopInput = new AbortController();
    const quit = new AbortController();
    let interrupts = 0;
    const onSigint = () => {
      interrupts++;
      if (interrupts === 1) {
        if (!options.json) process.stderr.write('\nspeechbridge: finishing (Ctrl+C again to quit at once)\n');
        stopInput.abort();
      } else quit.abort(new SpeechbridgeError('internal_error', 'interrupted'));
    };
    // SIGTERM (a service manager, `kill`) quits at once, like a second Ctrl+C: the player and recorder stop, the summary is printed.
    let terminated = false;
    const onSigterm = () => {
      terminated = true;
      quit.abort(new SpeechbridgeError('internal_error', 'terminated'));
    };
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
    let stdoutClosed = false;
    onStdoutClosed(() => {
      stdoutClosed = true;
      quit.abort(new SpeechbridgeError('internal_error', 'stdout closed'));
    });
    const duration = flags.duration === undefined ? undefined : setTimeout(() => stopInput.abort(), flags.duration * 1000);
    // The clients (ws, zod) load when a session starts, not with the command line.
    const { createClient } = await import('./clients/create-client.ts');
    let end: SessionEnd;
    try {
      end = await runClientSession({
        createClient: (onEvent) => createClient(options.protocol, { ...options, onEvent }),
        source: (sampleRate, signal) =>
          input !== undefined
            ? readRawPcm({ input, inputSampleRate: flags.rate, sampleRate, signal })
            : recordMicrophone({ tool: recorder ?? 'sox', ...(device && { device }), sampleRate, signal }),
        paced: false,
        primeSource: input === undefined,
        timeoutMs: options.timeoutMs,
        report,
        replyFile,
        player: speaker,
        stopInput: stopInput.signal,
        signal: quit.signal,
      });
    } catch (error) {
      await speaker?.close({ immediately: true });
      if (!quit.signal.aborted) throw error;
      end = { type: 'stopped' };
    } finally {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      clearTimeout(duration);
    }
    await speaker?.close({ immediately: quit.signal.aborted });
    const ended = quit.signal.aborted
      ? 'interrupted'
      : interrupts > 0
        ? 'Ctrl+C'
        : stopInput.signal.aborted
          ? 'duration reached'
          : end.type === 'finished' && input !== undefined
            ? 'end of input'
            : describeEnd(end, false);
    if (end.type === 'server_closed') report.notice(`the server closed the connection (${end.code}${end.reason ? `: ${end.reason}` : ''})`);
    if (replyFile && !replyFile.written) report.notice(`no reply audio came: ${replyFile.path} was not written`);
    report.printSummary({ ended, ...(replyFile?.written && { replyFile: replyFile.path }) });
    if (stdoutClosed) process.exitCode = STDOUT_CLOSED_EXIT_CODE;
    else if (quit.signal.aborted) process.exitCode = terminated ? 143 : 130;
    else if (end.type === 'server_closed' || report.summary().errors > 0) process.exitCode = 1;
    else if (end.type === 'timed_out' && interrupts === 0) process.exitCode = 1;
  });
}

async function printDevices(): Promise<void> {
  const listing = await arecordListing(AbortSignal.timeout(10_000));
  if (listing !== undefined && /card \d+:/.test(listing)) {
    process.stdout.write(listing.endsWith('\n') ? listing : `${listing}\n`);
    process.stdout.write('Use --device <card number> (e.g. --device 1, or 1,0 for card 1 device 0) or an ALSA name (--device hw:1,0).\n');
    return;
  }
  const devices = await listCaptureDevices();
  if (devices.length === 0) {
    throw new SpeechbridgeError(
      'engine_unavailable',
      'no capture device found: ALSA lists none on this machine (no sound card, or no access to /dev/snd: add yourself to the audio group); pipe raw PCM with --input - instead',
    );
  }
  process.stdout.write('capture devices:\n');
  for (const device of devices) process.stdout.write(`  ${device.card},${device.device}  ${device.id}: ${device.description}\n`);
  process.stdout.write('Use --device <card number> (e.g. --device 1, or 1,0) or an ALSA name (--device hw:1,0).\n');
}
