/** The one normal form of a request target that routing and the token check share. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeRequestTarget } from '../../src/protocols/request-target.ts';

function normal(raw: string): string {
  const outcome = normalizeRequestTarget(raw);
  assert.ok(outcome.ok, `${raw} should be well-formed`);
  return outcome.target.url;
}

test('spellings of one path come out as that path', () => {
  const spellings: Array<[string, string]> = [
    ['/v1/models', '/v1/models'],
    ['/%76%31/models', '/v1/models'],
    ['/v%31/models', '/v1/models'],
    ['/%76%31/%6D%6f%64%65%6C%73', '/v1/models'],
    ['//v1//models', '/v1/models'],
    ['/v1/models/', '/v1/models'],
    ['/v1/./models', '/v1/models'],
    ['/x/../v1/models', '/v1/models'],
    ['/x/%2e%2e/v1/models', '/v1/models'],
    ['/x/%2E%2E/v1/models', '/v1/models'],
    ['/demo/%2e%2e/v1/models', '/v1/models'],
    ['/../../v1/models', '/v1/models'],
    ['/v1/models/x/..', '/v1/models'],
    ['http://evil.example/v1/models', '/v1/models'],
    ['HTTP://evil.example:8080//v1/models/?a=1', '/v1/models?a=1'],
    ['http://evil.example', '/'],
    ['http://evil.example?token=x', '/?token=x'],
    ['/v1/models?token=a/../b&x=%zz', '/v1/models?token=a/../b&x=%zz'],
    ['/v1/models#fragment', '/v1/models'],
    ['/', '/'],
  ];
  for (const [raw, expected] of spellings) assert.equal(normal(raw), expected, raw);
});

test('escapes of reserved characters stay escaped (upper-case hex), and letter case is kept', () => {
  assert.equal(normal('/v1%2fmodels'), '/v1%2Fmodels', 'an escaped slash is a character inside a segment, not a separator');
  assert.equal(normal('/v1/models%3Fx'), '/v1/models%3Fx');
  assert.equal(normal('/a%25%32%66b'), '/a%252fb', 'decoded once: %25 stays, so %2532 never becomes a character');
  assert.equal(normal('/V1/Models'), '/V1/Models');
});

test('the trailing slash is dropped and reported, after dot segments are resolved', () => {
  for (const [raw, trailingSlash] of [
    ['/demo/', true],
    ['/demo', false],
    ['/demo/.', true],
    ['/demo/x/..', true],
    ['/', false],
  ] as const) {
    const outcome = normalizeRequestTarget(raw);
    assert.ok(outcome.ok);
    assert.equal(outcome.target.trailingSlash, trailingSlash, raw);
  }
});

test('a malformed escape or a target that is not a path is refused with a reason that never quotes the query', () => {
  for (const raw of ['/v1/%zz/models?token=secret', '/v1/models%', '/v1/models%4', '*', 'evil.example/v1/models', 'javascript:alert(1)']) {
    const outcome = normalizeRequestTarget(raw);
    assert.equal(outcome.ok, false, raw);
    if (!outcome.ok) {
      assert.match(outcome.reason, /percent-encoding|not a path/, raw);
      assert.doesNotMatch(outcome.reason, /secret/, raw);
    }
  }
});
