/**
 * The local certificate: valid for the three local names, reused while good, made anew when
 * it nears its end, when a file is damaged, or when key and certificate do not belong
 * together; and a real TLS server with it is trusted by a client given the certificate.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ensureLocalCertificate } from '../../src/server/self-signed-cert.ts';

let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'speechbridge-cert-'));
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('valid for localhost, 127.0.0.1 and ::1, for a server (not a CA), about a year', async () => {
  const made = await ensureLocalCertificate(path.join(dir, 'names'));
  assert.equal(made.created, true);
  const certificate = new X509Certificate(await readFile(made.certPath));
  assert.equal(certificate.checkHost('localhost'), 'localhost');
  assert.equal(certificate.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(certificate.checkIP('::1'), '::1');
  assert.equal(certificate.checkHost('example.com'), undefined);
  assert.equal(certificate.ca, false);
  const days = (made.validTo.getTime() - Date.now()) / 86_400_000;
  assert.ok(days > 360 && days < 366, `${days} days`);
});

test('reused while good; made anew 30 days before its end, or when the key does not match or a file is damaged', async () => {
  const folder = path.join(dir, 'renew');
  const first = await ensureLocalCertificate(folder);
  const kept = await ensureLocalCertificate(folder);
  assert.equal(kept.created, false);
  assert.equal(await readFile(kept.certPath, 'utf8'), await readFile(first.certPath, 'utf8'));

  const nearTheEnd = new Date(first.validTo.getTime() - 29 * 86_400_000);
  const renewed = await ensureLocalCertificate(folder, { now: nearTheEnd });
  assert.equal(renewed.created, true);
  assert.ok(renewed.validTo.getTime() > first.validTo.getTime());

  const other = await ensureLocalCertificate(path.join(dir, 'other'));
  await writeFile(renewed.keyPath, await readFile(other.keyPath));
  assert.equal((await ensureLocalCertificate(folder)).created, true, 'a key of another certificate');

  await writeFile(renewed.certPath, 'not a certificate');
  assert.equal((await ensureLocalCertificate(folder)).created, true, 'a damaged certificate');
});

test('an https server with it is trusted by a client given the certificate, under each local name', async () => {
  const made = await ensureLocalCertificate(path.join(dir, 'serve'));
  const server = createServer({ cert: await readFile(made.certPath), key: await readFile(made.keyPath) }, (_request, response) => response.end('ok'));
  server.listen(0, '::');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const ca = await readFile(made.certPath);
  try {
    for (const host of ['localhost', '127.0.0.1', '[::1]']) {
      const body = await new Promise<string>((resolve, reject) => {
        const outgoing = request(`https://${host}:${port}/`, { ca }, (response) => {
          let text = '';
          response
            .setEncoding('utf8')
            .on('data', (chunk: string) => (text += chunk))
            .on('end', () => resolve(text));
        });
        outgoing.on('error', reject);
        outgoing.end();
      });
      assert.equal(body, 'ok', host);
    }
  } finally {
    server.close();
    server.closeAllConnections();
  }
});
