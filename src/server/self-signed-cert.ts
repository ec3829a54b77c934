/**
 * A self-signed certificate for using the gateway over https/wss on this machine: the
 * official OpenAI SDK's realtime WebSocket client insists on wss://, and browsers give the
 * microphone only to secure pages. Made with the selfsigned package (Node's WebCrypto, no
 * openssl needed), valid for localhost, 127.0.0.1 and ::1, and kept in the cache folder so
 * every start serves the same one and a client trusts it once (NODE_EXTRA_CA_CERTS for Node,
 * an exception in the browser). A kept certificate is made anew when it is missing, does
 * not match its key, lacks one of those names, or has less than 30 days left.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SpeechbridgeError } from '../errors/registry.ts';

/** The names a local client may use for this machine. */
export const LOCAL_NAMES = { dns: ['localhost'], ip: ['127.0.0.1', '::1'] } as const;

const VALID_DAYS = 365;
/** A kept certificate with less than this left is replaced, so it never expires under a running server. */
const RENEW_BEFORE_DAYS = 30;
const DAY_MS = 86_400_000;

export interface LocalCertificate {
  certPath: string;
  keyPath: string;
  /** Subject alternative names, e.g. ['localhost', '127.0.0.1', '::1']. */
  names: string[];
  validTo: Date;
  /** True when this call made it, false when a kept one was reused. */
  created: boolean;
}

/** Default folder: next to the model cache, ~/.cache/speechbridge/tls. */
export function defaultCertificateDir(): string {
  return path.join(os.homedir(), '.cache', 'speechbridge', 'tls');
}

/** Reuses the certificate kept in `dir` when it is still good, else makes and keeps a new one. */
export async function ensureLocalCertificate(dir: string = defaultCertificateDir(), options: { now?: Date } = {}): Promise<LocalCertificate> {
  const now = options.now ?? new Date();
  const certPath = path.join(dir, 'localhost-cert.pem');
  const keyPath = path.join(dir, 'localhost-key.pem');
  const kept = await readKept(certPath, keyPath, now);
  if (kept) return { certPath, keyPath, names: kept.names, validTo: kept.validTo, created: false };

  const selfsigned = await import('selfsigned');
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + VALID_DAYS * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [...LOCAL_NAMES.dns.map((value) => ({ type: 2 as const, value })), ...LOCAL_NAMES.ip.map((ip) => ({ type: 7 as const, ip }))],
      },
    ],
  });
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // Key first and each through a rename, so a reader never pairs a new certificate with an old key.
    await writeAtomically(keyPath, pems.private, 0o600);
    await writeAtomically(certPath, pems.cert, 0o644);
  } catch (error) {
    throw new SpeechbridgeError('invalid_config', `cannot keep the local certificate in ${dir}: ${(error as Error).message}`, { cause: error });
  }
  const made = new X509Certificate(pems.cert);
  return { certPath, keyPath, names: namesOf(made), validTo: new Date(made.validTo), created: true };
}

async function readKept(certPath: string, keyPath: string, now: Date): Promise<{ names: string[]; validTo: Date } | undefined> {
  if (!existsSync(certPath) || !existsSync(keyPath)) return undefined;
  try {
    const certificate = new X509Certificate(await readFile(certPath));
    const key = createPrivateKey(await readFile(keyPath));
    const validTo = new Date(certificate.validTo);
    const names = namesOf(certificate);
    const wanted = [...LOCAL_NAMES.dns, ...LOCAL_NAMES.ip];
    if (!certificate.checkPrivateKey(key)) return undefined;
    if (validTo.getTime() - now.getTime() < RENEW_BEFORE_DAYS * DAY_MS) return undefined;
    if (!wanted.every((name) => names.includes(name))) return undefined;
    return { names, validTo };
  } catch {
    // Unreadable or not PEM: replaced like a missing one.
    return undefined;
  }
}

/** "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1" → ['localhost', '127.0.0.1', '::1']. */
function namesOf(certificate: X509Certificate): string[] {
  return (certificate.subjectAltName ?? '')
    .split(', ')
    .map((entry) => entry.replace(/^(DNS|IP Address):/, ''))
    .map((name) => (name === '0:0:0:0:0:0:0:1' ? '::1' : name.toLowerCase()))
    .filter(Boolean);
}

async function writeAtomically(file: string, text: string, mode: number): Promise<void> {
  const partial = `${file}.${process.pid}.tmp`;
  await writeFile(partial, text, { mode });
  await chmod(partial, mode);
  await rename(partial, file);
}

/** The line a Node program (the official openai SDK) is started with to trust the certificate. */
export function trustLine(certPath: string, program = 'node app.mjs'): string {
  return `NODE_EXTRA_CA_CERTS=${certPath} ${program}`;
}
