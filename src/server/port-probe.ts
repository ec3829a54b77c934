/**
 * Checks that the server's address can be listened on before the engines load: loading
 * whisper (or downloading its model) takes seconds to minutes, and a port already in use
 * should say so at once rather than after. The probe listens and closes at once; the port can
 * still be taken between the probe and the real listen, which then fails the same way.
 */
import { createServer } from 'node:net';

export async function probeListen(host: string, port: number): Promise<void> {
  // Port 0 asks the system for any free port: nothing to check.
  if (port === 0) return;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen({ host, port, exclusive: true }, () => resolve());
  });
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}
