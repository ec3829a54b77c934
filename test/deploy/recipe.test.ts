/**
 * The deployment recipe (Dockerfile, compose.yaml, deploy/haproxy.cfg, the package script)
 * cannot be run here without Docker, so its parts are checked against each other and against
 * the code: HAProxy itself validates its configuration, the image installs its packages with
 * the script CI runs, every variable compose sets is one the server reads, every file it
 * mounts exists, and the ports, paths and names agree.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ENV_SCHEMA } from '../../src/server/config.ts';
import { haproxyConfigFor, HAPROXY_CONFIG } from '../helpers/haproxy.ts';
import { requireBinary } from '../helpers/local-service.ts';
import { startTestServer } from '../helpers/server.ts';
import { repoRoot } from '../helpers/shared.ts';

const read = (file: string) => readFile(path.join(repoRoot, file), 'utf8');
const KNOWN_VARIABLES = new Set(Object.keys(ENV_SCHEMA.shape));

function haproxyCheck(file: string): { status: number | null; output: string } {
  const result = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

test('HAProxy accepts deploy/haproxy.cfg as shipped and as the scale-out tests adapt it', async () => {
  requireBinary('haproxy', 'haproxy');
  const shipped = haproxyCheck(HAPROXY_CONFIG);
  assert.equal(shipped.status, 0, shipped.output);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-recipe-'));
  try {
    const file = path.join(dir, 'haproxy.cfg');
    await writeFile(file, await haproxyConfigFor(18080, ['127.0.0.1:18081', '127.0.0.1:18082']));
    const adapted = haproxyCheck(file);
    assert.equal(adapted.status, 0, adapted.output);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the HAProxy configuration: WebSocket-long tunnels, cookie stickiness for Socket.IO polling, a 503 retried on the next instance, a health check the server answers without a token', async () => {
  const config = await read('deploy/haproxy.cfg');
  assert.match(config, /^\s*timeout tunnel \d+h$/m, 'upgraded connections live as long as a session');
  assert.match(config, /^\s*cookie SERVERID insert indirect nocache dynamic$/m);
  assert.match(config, /^\s*dynamic-cookie-key \S+$/m);
  // Every retry on the next instance, and a 503 (over capacity) retried: test/e2e/capacity-balancer.test.ts shows both at work.
  assert.match(config, /^\s*option redispatch 1$/m);
  assert.match(config, /^\s*retry-on .*\b503\b/m);
  const check = /^\s*option httpchk GET (\S+)$/m.exec(config)?.[1];
  assert.equal(check, '/healthz');
  const server = await startTestServer({}, { API_TOKENS: 'recipe-token' });
  try {
    assert.equal((await fetch(`${server.url}${check}`)).status, 200, 'answered without a token');
  } finally {
    await server.close();
  }
});

test('the Dockerfile: Debian with Node 20, packages from the CI script, production dependencies, the JavaScript build, a non-root user, a /healthz check, the model cache on a volume', async () => {
  const dockerfile = await read('Dockerfile');
  assert.match(dockerfile, /^FROM node:20-bookworm-slim$/m);
  assert.match(dockerfile, /^RUN bash scripts\/install-system-packages\.sh --runtime\b/m);
  assert.match(dockerfile, /^RUN npm ci --omit=dev\b/m);
  // The command line runs from the JavaScript build, made after the sources it compiles are in.
  const build = dockerfile.search(/^RUN npm run build$/m);
  assert.ok(build > dockerfile.search(/^COPY src src$/m) && build > dockerfile.search(/^COPY tsconfig\.json /m), 'npm run build after the sources');
  const user = /^USER (\S+)$/m.exec(dockerfile)?.[1];
  assert.ok(user && user !== 'root' && user !== '0', `runs as ${user}`);
  assert.match(dockerfile, /^HEALTHCHECK [\s\S]*\/healthz/m);
  const cacheDir = /MODEL_CACHE_DIR=(\S+)/.exec(dockerfile)?.[1];
  const volume = /^VOLUME \["([^"]+)"\]$/m.exec(dockerfile)?.[1];
  assert.ok(cacheDir && volume && cacheDir.startsWith(`${volume}/`), `the model cache ${cacheDir} is on the volume ${volume}`);
  const port = /SERVER_PORT=(\d+)/.exec(dockerfile)?.[1];
  assert.match(dockerfile, new RegExp(`^EXPOSE ${port}$`, 'm'));
  for (const [, name] of dockerfile.matchAll(/^\s*(?:ENV )?([A-Z][A-Z0-9_]+)=/gm)) {
    if (name !== 'NODE_ENV') assert.ok(KNOWN_VARIABLES.has(name), `${name} is a variable the server reads`);
  }
  for (const [, sources] of dockerfile.matchAll(/^COPY (.+) \S+$/gm)) {
    for (const source of sources.split(/\s+/)) assert.ok(existsSync(path.join(repoRoot, source)), `COPY ${source} exists`);
  }
  assert.match(await read('.dockerignore'), /^node_modules$/m);
});

test('.ci/run installs its packages with the same script, which holds every package the gateway and its tests need', async () => {
  const ci = await read('.ci/run');
  assert.match(ci, /^bash scripts\/install-system-packages\.sh$/m);
  assert.doesNotMatch(ci, /apt-get install/, 'no package list of its own');
  const script = await read('scripts/install-system-packages.sh');
  const list = (name: string) => (new RegExp(`^${name}=\\(([^)]*)\\)$`, 'm').exec(script)?.[1] ?? '').split(/\s+/).filter(Boolean);
  const runtime = list('runtime_packages');
  const all = [...runtime, ...list('test_packages')];
  for (const needed of ['ffmpeg', 'sox', 'espeak-ng', 'openssl', 'pocketsphinx', 'pocketsphinx-en-us', 'chromium', 'redis-server', 'haproxy']) {
    assert.ok(all.includes(needed), `${needed} is installed`);
  }
  assert.ok(runtime.includes('ffmpeg') && runtime.includes('pocketsphinx'), 'the image gets what the gateway runs');
  const syntax = spawnSync('bash', ['-n', path.join(repoRoot, 'scripts/install-system-packages.sh')], { encoding: 'utf8' });
  assert.equal(syntax.status, 0, syntax.stderr);
});

test('compose.yaml: two gateway replicas on Redis behind HAProxy with the shipped configuration; every variable it sets is read by the server', async () => {
  const compose = await read('compose.yaml');
  const haproxy = await read('deploy/haproxy.cfg');
  const services = [...compose.matchAll(/^ {2}#? ?([a-z][\w-]*):$/gm)].map((match) => match[1]);
  for (const service of ['gateway', 'redis', 'haproxy', 'wyoming-whisper', 'llm'])
    assert.ok(services.includes(service), `service ${service} (optional ones commented in)`);
  assert.match(compose, /^ {6}replicas: 2$/m);
  assert.match(compose, /^ {4}build: \.$/m);
  assert.ok(existsSync(path.join(repoRoot, 'Dockerfile')));
  // Every variable set for the gateway, commented or not, is one the server reads.
  const variables = [...compose.matchAll(/^ {6}#? ?([A-Z][A-Z0-9_]+): /gm)].map((match) => match[1]);
  assert.ok(variables.length >= 8, `variables found: ${variables.join(', ')}`);
  for (const name of variables) assert.ok(KNOWN_VARIABLES.has(name), `${name} is a variable the server reads`);
  // Addresses in the variables name services of this file.
  for (const [, host] of compose.matchAll(/^ {6}#? ?[A-Z][A-Z0-9_]+: (?:redis|tcp|http):\/\/([\w-]+):\d+/gm))
    assert.ok(services.includes(host), `${host} is a service`);
  // Files it mounts exist; HAProxy gets the shipped configuration.
  for (const [, source] of compose.matchAll(/^ {6}- (\.\/[^:]+):/gm)) assert.ok(existsSync(path.join(repoRoot, source)), `${source} exists`);
  assert.match(compose, /- \.\/deploy\/haproxy\.cfg:\/usr\/local\/etc\/haproxy\/haproxy\.cfg:ro/);
  // HAProxy's servers are the gateway service's replicas on the port the image listens on; its frontend is the published port.
  const template = /^\s*server-template (\S+) (\d+) ([\w-]+):(\d+)\b/m.exec(haproxy);
  assert.ok(template, 'a server-template line');
  const dockerfilePort = /SERVER_PORT=(\d+)/.exec(await read('Dockerfile'))?.[1];
  assert.deepEqual([template[3], template[4], template[2]], ['gateway', dockerfilePort, '2']);
  const bind = /^\s*bind :(\d+)$/m.exec(haproxy)?.[1];
  assert.match(compose, new RegExp(`- "\\d+:${bind}"`));
  // The model cache volume is mounted where the image keeps it.
  const volume = /^VOLUME \["([^"]+)"\]$/m.exec(await read('Dockerfile'))?.[1];
  assert.match(compose, new RegExp(`- models:${volume}$`, 'm'));
});
