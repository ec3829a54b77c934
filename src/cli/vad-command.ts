/** `speechbridge vad <file>`: print the speech segments the turn detector finds in a file. */
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { checkAudioFile } from './clients/audio-file-source.ts';
import { configFromCommand } from './environment.ts';

export function registerVadCommand(program: Command): void {
  const command = program
    .command('vad')
    .description('print the speech segments (start/end ms) found in an audio file')
    .argument('<file>', 'audio file (any container)')
    .addOption(new Option('--vad <engine>', 'voice activity detector (VAD_ENGINE)').choices(['webrtc', 'silero']))
    .addOption(new Option('-a, --aggressiveness <0-3>', 'WebRTC VAD aggressiveness (VAD_AGGR)'))
    .addOption(new Option('--threshold <0-1>', 'speech probability threshold (VAD_THRESHOLD)'))
    .addOption(new Option('--start-ms <ms>', 'speech needed to start a turn (DEFAULT_VAD_START_MS)'))
    .addOption(new Option('--end-ms <ms>', 'silence that ends a turn (DEFAULT_VAD_END_MS)'))
    .addOption(new Option('--pad-ms <ms>', 'audio kept before a turn (DEFAULT_VAD_PAD_MS)'))
    .addOption(new Option('--max-ms <ms>', 'longest turn before a forced cut (DEFAULT_VAD_MAX_MS)'))
    .addOption(new Option('--json', 'print JSON'));
  command.action(async (file: string, options: { json?: boolean }) => {
    const config = await configFromCommand(command, {
      vad: 'VAD_ENGINE',
      aggressiveness: 'VAD_AGGR',
      threshold: 'VAD_THRESHOLD',
      startMs: 'DEFAULT_VAD_START_MS',
      endMs: 'DEFAULT_VAD_END_MS',
      padMs: 'DEFAULT_VAD_PAD_MS',
      maxMs: 'DEFAULT_VAD_MAX_MS',
    });
    const vad = config.vad;
    await checkAudioFile(file);
    const [{ decodeAudio }, { durationMs }, { findSpeechSegments }, { resolveTurnOptions, validateAggressiveness }] = await Promise.all([
      import('../audio/decode.ts'),
      import('../audio/pcm.ts'),
      import('../vad/segments.ts'),
      import('../vad/turn-options.ts'),
    ]);
    const audio = await decodeAudio(await readFile(file), { sampleRate: 16000 });
    const segments = await findSpeechSegments(audio, {
      engine: vad.engine === 'webrtc' ? { engine: 'webrtc', aggressiveness: validateAggressiveness(vad.aggressiveness, 'VAD_AGGR') } : { engine: 'silero' },
      turn: resolveTurnOptions({ startMs: vad.startMs, endMs: vad.endMs, padMs: vad.padMs, maxMs: vad.maxMs, threshold: vad.threshold }),
    });
    const totalMs = Math.round(durationMs(audio));
    if (options.json) {
      process.stdout.write(
        `${JSON.stringify({ file, duration_ms: totalMs, engine: vad.engine, segments: segments.map((s) => ({ start_ms: s.startMs, end_ms: s.endMs, reason: s.reason })) })}\n`,
      );
      return;
    }
    process.stdout.write(`${file}: ${(totalMs / 1000).toFixed(2)} s, ${segments.length} speech segment${segments.length === 1 ? '' : 's'} (${vad.engine})\n`);
    for (const segment of segments) {
      const note = segment.reason === 'silence' ? '' : `  (${segment.reason.replace('_', ' ')})`;
      process.stdout.write(`  ${seconds(segment.startMs)} → ${seconds(segment.endMs)}  ${((segment.endMs - segment.startMs) / 1000).toFixed(2)} s${note}\n`);
    }
  });
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2).padStart(7)} s`;
}
