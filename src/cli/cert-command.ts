/**
 * `speechbridge cert`: makes (or shows) the local self-signed certificate that
 * `speechbridge serve --tls-self-signed` serves, and prints how to use and trust it.
 */
import { Command, Option } from 'commander';

export function registerCertCommand(program: Command): void {
  const command = program
    .command('cert')
    .description('make the self-signed certificate for localhost, 127.0.0.1 and ::1 that serve --tls-self-signed uses, and print how to trust it')
    .addOption(new Option('--json', 'print JSON'));
  command.action(async (options: { json?: boolean }) => {
    const { ensureLocalCertificate, trustLine } = await import('../server/self-signed-cert.ts');
    const certificate = await ensureLocalCertificate();
    if (options.json) {
      const { certPath, keyPath, names, validTo, created } = certificate;
      process.stdout.write(
        `${JSON.stringify({ cert: certPath, key: keyPath, names, valid_to: validTo.toISOString(), created, trust: trustLine(certPath) })}\n`,
      );
      return;
    }
    process.stdout.write(
      [
        `${certificate.created ? 'made' : 'kept'} a self-signed certificate for ${certificate.names.join(', ')}, valid until ${certificate.validTo.toISOString().slice(0, 10)}`,
        `  certificate: ${certificate.certPath}`,
        `  key:         ${certificate.keyPath}`,
        'serve https/wss with it:',
        '  speechbridge serve --tls-self-signed',
        `  (or TLS_CERT=${certificate.certPath} TLS_KEY=${certificate.keyPath})`,
        'trust it in a Node program such as one using the official openai SDK:',
        `  ${trustLine(certificate.certPath)}`,
        '',
      ].join('\n'),
    );
  });
}
