import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { CATEGORIES, ERROR_CODES, SpeechbridgeError, toSpeechbridgeError } from '../../src/errors/registry.ts';
import { repoRoot } from '../helpers/shared.ts';

test('every error code is documented in docs/errors.md with its category', () => {
  const docs = readFileSync(path.join(repoRoot, 'docs/errors.md'), 'utf8');
  assert.ok(docs.includes('`src/errors/registry.ts`'), 'docs/errors.md names the registry file it documents');
  for (const [code, info] of Object.entries(ERROR_CODES)) {
    const row = docs.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
    assert.ok(row, `docs/errors.md has no row for ${code}`);
    assert.match(row, new RegExp(`\\| ${info.category} \\| ${CATEGORIES[info.category].status} \\|`), `row for ${code} has the wrong category or status`);
  }
});

test('an error renders the OpenAI error body and keeps its cause', () => {
  const cause = new Error('socket hang up');
  const error = new SpeechbridgeError('upstream_unreachable', 'could not reach http://x', { cause, param: 'url' });
  assert.equal(error.status, 503);
  assert.equal(error.retryable, true);
  assert.equal(error.cause, cause);
  assert.deepEqual(error.toBody(), { error: { message: 'could not reach http://x', type: 'server_error', param: 'url', code: 'upstream_unreachable' } });
});

test('unknown failures become internal_error, known ones pass through', () => {
  const known = new SpeechbridgeError('empty_input', 'nothing');
  assert.equal(toSpeechbridgeError(known), known);
  const wrapped = toSpeechbridgeError(new TypeError('boom'));
  assert.equal(wrapped.code, 'internal_error');
  assert.equal(wrapped.status, 500);
  assert.equal(wrapped.message, 'boom');
});
