/**
 * The providers' job slots: a bounded number run, a bounded number wait in order, the rest are
 * refused at once; an aborted waiter leaves the queue; a best-effort call never waits.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpeechbridgeError } from '../../src/errors/registry.ts';
import { JobSlots } from '../../src/providers/base/job-slots.ts';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => assert.fail('expected a rejection'),
    (error: unknown) => error,
  );
}

test('two slots, two waiting: the fifth call is refused with engine_busy and the waiters run in order', async () => {
  const slots = new JobSlots({ slots: 2, maxWaiting: 2, engine: 'test-engine' });
  const first = await slots.acquire();
  const second = await slots.acquire();
  const started: string[] = [];
  const third = slots.acquire().then((release) => (started.push('third'), release));
  const fourth = slots.acquire().then((release) => (started.push('fourth'), release));
  assert.equal(slots.running, 2);
  assert.equal(slots.waiting, 2);

  const refused = await rejection(slots.acquire());
  assert.ok(refused instanceof SpeechbridgeError);
  assert.equal(refused.code, 'engine_busy');
  assert.match(refused.message, /test-engine has 2 jobs waiting \(limit 2\)/);

  first();
  first();
  const thirdRelease = await third;
  assert.deepEqual(started, ['third'], 'a double release frees one slot only');
  assert.equal(slots.running, 2);
  second();
  const fourthRelease = await fourth;
  assert.deepEqual(started, ['third', 'fourth']);
  thirdRelease();
  fourthRelease();
  assert.equal(slots.running, 0);
  assert.equal(slots.waiting, 0);
});

test('an aborted waiter leaves the queue with an AbortError; a best-effort call is refused while all slots are taken', async () => {
  const slots = new JobSlots({ slots: 1, maxWaiting: 4, engine: 'test-engine', busyCode: 'engine_unavailable' });
  const release = await slots.acquire();
  const controller = new AbortController();
  const waiting = slots.acquire({ signal: controller.signal });
  assert.equal(slots.waiting, 1);
  controller.abort();
  const aborted = await rejection(waiting);
  assert.equal((aborted as Error).name, 'AbortError');
  assert.equal(slots.waiting, 0);

  const preview = await rejection(slots.acquire({ bestEffort: true }));
  assert.ok(preview instanceof SpeechbridgeError);
  assert.equal(preview.code, 'engine_busy');
  release();
  const idle = await slots.acquire({ bestEffort: true });
  idle();
  assert.equal(slots.running, 0);
});

test('a full queue refuses with the configured code; close fails the waiters and later calls; a retired slot is not handed on', async () => {
  const slots = new JobSlots({ slots: 2, maxWaiting: 0, engine: 'espeak-ng', busyCode: 'engine_unavailable' });
  const first = await slots.acquire();
  const second = await slots.acquire();
  const full = await rejection(slots.acquire());
  assert.ok(full instanceof SpeechbridgeError);
  assert.equal(full.code, 'engine_unavailable');

  slots.retire(new Error('worker gone'));
  assert.equal(slots.capacity, 1);
  first();
  assert.equal(slots.running, 1, 'the slot over the new capacity is dropped, not reused');
  second();
  assert.equal(slots.running, 0);

  const closed = new SpeechbridgeError('engine_unavailable', 'closed');
  const again = await slots.acquire();
  const waiting = new JobSlots({ slots: 1, maxWaiting: 1, engine: 'x' });
  const held = await waiting.acquire();
  const queued = waiting.acquire();
  waiting.close(closed);
  assert.equal(await rejection(queued), closed);
  assert.equal(await rejection(waiting.acquire()), closed);
  held();
  again();
});
