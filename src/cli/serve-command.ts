/**
 * `speechbridge serve`: start the gateway (what `npm start` runs). At start-up it says, once
 * each: which engines run (and why, when the offline fallback does), where it listens and
 * where the demo page is, and with --tls-self-signed how a Node client trusts the certificate.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { SpeechbridgeError } from '../errors/registry.ts';
import { ENGINE_FLAGS, configFromCommand } from './environment.ts';
import { engineOptions } from './engine-options.ts';

export function registerServeCommand(program: Command): void {
  const command = program
    .command('serve')
    .description('start the gateway on SERVER_NAME:SERVER_PORT (default 0.0.0.0:8080)')
    .addOption(new Option('--host <host>', 'address to listen on (SERVER_NAME)'))
    .addOption(new Option('-p, --port <port>', 'port to listen on, 0 for any free port (SERVER_PORT)'))
    .addOption(new Option('--max-upload-mb <mb>', 'largest accepted upload (MAX_UPLOAD_MB)'))
    .addOption(new Option('--tls-self-signed', 'serve https/wss with a local certificate for localhost, 127.0.0.1 and ::1, made once and kept (see speechbridge cert)'))
    .addOption(new Option('--log-format <format>', 'log lines: pretty on a terminal, JSON otherwise (LOG_FORMAT)').choices(['auto', 'json', 'pretty']));
  engineOptions(command);
  command.action(async (options: { tlsSelfSigned?: boolean }) => {
    const flags = { ...ENGINE_FLAGS, host: 'SERVER_NAME', port: 'SERVER_PORT', maxUploadMb: 'MAX_UPLOAD_MB', logFormat: 'LOG_FORMAT' };
    let config = await configFromCommand(command, flags);
    let certificate: import('../server/self-signed-cert.ts').LocalCertificate | undefined;
    if (options.tlsSelfSigned) {
      if (config.server.tls) throw new SpeechbridgeError('invalid_config', '--tls-self-signed and TLS_CERT/TLS_KEY both name a certificate: use one of them');
      const { ensureLocalCertificate } = await import('../server/self-signed-cert.ts');
      certificate = await ensureLocalCertificate();
      config = await configFromCommand(command, flags, { TLS_CERT: certificate.certPath, TLS_KEY: certificate.keyPath });
    }
    // What can fail fast does, before the engines take their seconds to load.
    const { probeListen } = await import('../server/port-probe.ts');
    if (config.server.tls) for (const file of [config.server.tls.certPath, config.server.tls.keyPath]) await access(file, constants.R_OK);
    await probeListen(config.server.host, config.server.port);
    const [{ checkFfmpeg }, { startServer }, { createEngines }, { createLogger, resolveLogFormat }, { describeEngines }, { DEMO_PATH }, { trustLine }] = await Promise.all([
      import('../audio/ffmpeg-probe.ts'),
      import('../server/app.ts'),
      import('../server/engine-factory.ts'),
      import('../server/logging.ts'),
      import('../server/engines.ts'),
      import('../server/web-routes.ts'),
      import('../server/self-signed-cert.ts'),
    ]);
    const { watchProcessFaults } = await import('../server/process-faults.ts');
    const logger = createLogger(config.logLevel, resolveLogFormat(config.logFormat));
    for (const warning of config.warnings) logger.warn(warning);
    const ffmpeg = await checkFfmpeg();
    logger.debug({ ffmpeg: ffmpeg.version }, `ffmpeg ${ffmpeg.version} found`);
    const engines = await createEngines(config, logger);
    logger.info({ engines: engines.summary }, `engines: ${describeEngines(engines.summary)}`);
    const server = await startServer({ config, engines, logger }).catch(async (error: unknown) => {
      await engines.close();
      throw error;
    });
    const auth = config.apiTokens.length > 0 ? 'token' : 'open';
    logger.info(
      { url: server.url, auth, tls: Boolean(config.server.tls) },
      `speechbridge listening on ${server.url} (${auth === 'token' ? 'API_TOKENS required' : 'no token needed'}) — demo page: ${server.url}${DEMO_PATH}`,
    );
    if (certificate) {
      logger.info(
        { certificate: certificate.certPath, names: certificate.names, validTo: certificate.validTo.toISOString(), created: certificate.created },
        `${certificate.created ? 'made a' : 'using the'} self-signed certificate for ${certificate.names.join(', ')}; Node clients (the official openai SDK) trust it with: ${trustLine(certificate.certPath)}`,
      );
    }
    // From here on a stray exception is logged and counted, and the other sessions go on (src/server/process-faults.ts).
    watchProcessFaults({ logger, counter: server.metrics.processFaults });

    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      await server.close();
      await engines.close();
      logger.flush();
      process.exit(0);
    };
    process.once('SIGINT', () => void stop('SIGINT'));
    process.once('SIGTERM', () => void stop('SIGTERM'));
  });
}
