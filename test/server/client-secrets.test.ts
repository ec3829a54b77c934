/**
 * Signed client secrets: what one signer mints, another with the same key accepts (the
 * multi-instance case), a rotated-out key still verifies, and an altered, expired, oversized or
 * foreign-key secret is refused with a reason the client can act on.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientSecretSigner, MAX_CLIENT_SECRET_CHARS } from '../../src/server/client-secrets.ts';
import { TokenAuth } from '../../src/server/auth.ts';

const KEY = 'k'.repeat(16) + 'signing-key-for-tests-0001';
const NEW_KEY = 'n'.repeat(16) + 'signing-key-for-tests-0002';

test('a secret minted by one signer opens on another with the same key, carrying its settings, owner and expiry', () => {
  const nowMs = 1_700_000_000_000;
  const minter = new ClientSecretSigner({ keys: { current: KEY }, now: () => nowMs });
  const other = new ClientSecretSigner({ keys: { current: KEY }, now: () => nowMs + 5000 });
  const secret = minter.mint(60, { type: 'realtime', instructions: 'Be brief.' }, 'token:abc');
  assert.match(secret.value, /^ek_[\w-]+\.[\w-]+$/);
  const checked = other.check(secret.value);
  assert.ok(checked.ok);
  assert.deepEqual(checked.secret, {
    value: secret.value,
    expiresAt: 1_700_000_060,
    session: { type: 'realtime', instructions: 'Be brief.' },
    owner: 'token:abc',
  });
  assert.notEqual(minter.mint(60, {}, 'x').value, minter.mint(60, {}, 'x').value, 'two secrets with the same contents differ');
});

test('expired, altered and foreign secrets are refused with a reason', () => {
  let nowMs = 1_700_000_000_000;
  const signer = new ClientSecretSigner({ keys: { current: KEY }, now: () => nowMs });
  const secret = signer.mint(10, { instructions: 'Be brief.' }, 'token:abc');
  // Altered: the payload re-encoded with other settings, the signature kept.
  const [body, signature] = secret.value.slice(3).split('.');
  const payload = JSON.parse(Buffer.from(body, 'base64url').toString());
  payload.own = 'token:someone-else';
  const altered = `ek_${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${signature}`;
  const refusal = signer.check(altered);
  assert.ok(!refusal.ok && /signature does not match/.test(refusal.reason), JSON.stringify(refusal));
  const truncated = signer.check(secret.value.slice(0, -2));
  assert.ok(!truncated.ok && /signature/.test(truncated.reason));
  const foreign = new ClientSecretSigner({ keys: { current: NEW_KEY } }).check(secret.value);
  assert.ok(!foreign.ok && /another SECRET_KEY/.test(foreign.reason));
  const random = new ClientSecretSigner().check(secret.value);
  assert.ok(!random.ok, 'a process without SECRET_KEY has its own random key');
  nowMs += 10_000;
  const expired = signer.check(secret.value);
  assert.ok(!expired.ok && /expired at 2023-11-14T22:13:30.000Z/.test(expired.reason), JSON.stringify(expired));
  const long = signer.check(`ek_${'a'.repeat(MAX_CLIENT_SECRET_CHARS)}.b`);
  assert.ok(!long.ok && /longer than/.test(long.reason));
});

test('rotation: a secret signed with the previous key still opens; new ones are signed with the new key', () => {
  const before = new ClientSecretSigner({ keys: { current: KEY } });
  const old = before.mint(60, {}, 'anonymous');
  const rotated = new ClientSecretSigner({ keys: { current: NEW_KEY, previous: KEY } });
  assert.ok(rotated.check(old.value).ok);
  const fresh = rotated.mint(60, {}, 'anonymous');
  assert.ok(new ClientSecretSigner({ keys: { current: NEW_KEY } }).check(fresh.value).ok);
  assert.equal(before.check(fresh.value).ok, false, 'the old key does not verify the new key’s secrets');
});

test('a secret is bounded: session settings that would make it too long are refused at minting, naming the field', () => {
  const signer = new ClientSecretSigner({ keys: { current: KEY } });
  assert.throws(
    () => signer.mint(60, { instructions: 'x'.repeat(MAX_CLIENT_SECRET_CHARS) }, 'anonymous'),
    (error: Error & { code?: string; param?: string }) => error.code === 'invalid_value' && error.param === 'session' && /characters/.test(error.message),
  );
});

test('the token check: a valid secret passes, a bad one is refused with its reason, even on an open server', () => {
  const signer = new ClientSecretSigner({ keys: { current: KEY } });
  const secret = signer.mint(60, {}, 'token:abc');
  for (const auth of [new TokenAuth(['real-token'], signer), new TokenAuth([], signer)]) {
    const sources = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
    assert.equal(auth.check(sources(secret.value), { clientSecret: true }), undefined);
    assert.match(auth.check(sources(`${secret.value}x`), { clientSecret: true }) ?? '', /signature does not match/);
    assert.equal(auth.ownerOf(sources(secret.value)), 'token:abc', 'its sessions count against the minting token');
  }
  const closed = new TokenAuth(['real-token'], signer);
  assert.equal(closed.check({ headers: { authorization: `Bearer ${secret.value}` } }), 'invalid API token', 'not an API token elsewhere');
  assert.match(closed.ownerOf({ headers: { authorization: 'Bearer real-token' } }), /^token:[\w-]{16}$/);
  assert.equal(new TokenAuth([], signer).ownerOf({ headers: { authorization: 'Bearer whatever' } }), 'anonymous');
});
