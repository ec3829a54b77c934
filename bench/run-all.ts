/** Runs every benchmark in turn (each in its own process, so one's memory and JIT state do not colour the next). */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const benches = [
  'resampler.ts',
  'vad.ts',
  'tts.ts',
  'whisper.ts',
  'whisper-threads.ts',
  'pocketsphinx.ts',
  'engine-turns.ts',
  'realtime-sessions.ts',
  'streaming.ts',
];
let failed = 0;
for (const bench of benches) {
  process.stdout.write(`\n=== bench/${bench} ===\n`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, bench), ...process.argv.slice(2)], { stdio: 'inherit' });
  if (result.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
