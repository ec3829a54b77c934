import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AudioHops } from '../../src/engine/audio-hops.ts';

test('AudioHops cuts any chunking into equal hops, keeps order, and flushes one shorter hop', () => {
  const hops = new AudioHops(24000, 50);
  const out: Int16Array[] = [];
  let next = 0;
  for (const size of [7, 1000, 3000, 1, 2500, 333]) {
    const chunk = new Int16Array(size);
    for (let i = 0; i < size; i++) chunk[i] = next++ % 30000;
    hops.push(chunk, (hop) => out.push(hop));
  }
  hops.flush((hop) => out.push(hop));
  assert.equal(hops.hopSamples, 1200);
  assert.ok(out.slice(0, -1).every((hop) => hop.length === 1200));
  const total = out.reduce((sum, hop) => sum + hop.length, 0);
  assert.equal(total, next);
  assert.equal(out.at(-1)!.length, next % 1200);
  let expected = 0;
  for (const hop of out) for (const sample of hop) assert.equal(sample, expected++ % 30000);
  // Each hop is its own array: keeping one is safe after more audio arrives.
  assert.notEqual(out[0].buffer, out[1].buffer);
});
