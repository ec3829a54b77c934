import assert from 'node:assert/strict';
import { test } from 'node:test';
import { abortable, abortError, isAbortError, throwIfAborted } from '../../src/errors/abort.ts';
import { SpeechbridgeError } from '../../src/errors/registry.ts';

test('an abort error is recognised, carries its cause, and a failure is not one', () => {
  const reason = new Error('client left');
  const error = abortError(reason, 'the transcription was aborted');
  assert.equal(error.name, 'AbortError');
  assert.equal(error.message, 'the transcription was aborted');
  assert.equal(error.cause, reason);
  assert.equal(abortError().message, 'The operation was aborted');
  assert.equal(isAbortError(error), true);
  assert.equal(isAbortError(Object.assign(new Error('x'), { code: 'ABORT_ERR' })), true);
  assert.equal(isAbortError(new SpeechbridgeError('upstream_timeout', 'slow')), false);
  assert.equal(isAbortError('AbortError'), false);
});

test('throwIfAborted throws only once the signal has fired', () => {
  const controller = new AbortController();
  throwIfAborted(undefined);
  throwIfAborted(controller.signal);
  controller.abort();
  assert.throws(() => throwIfAborted(controller.signal), { name: 'AbortError' });
});

test('abortable passes the value through and rejects as soon as the signal fires', async () => {
  assert.equal(await abortable(Promise.resolve(7), new AbortController().signal), 7);
  const controller = new AbortController();
  const never = new Promise<number>(() => {});
  const pending = abortable(never, controller.signal);
  controller.abort();
  await assert.rejects(pending, { name: 'AbortError' });
  await assert.rejects(abortable(Promise.resolve(1), controller.signal), { name: 'AbortError' });
});
