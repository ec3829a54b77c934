/**
 * `speechbridge serve`: start the gateway (what `npm start` runs). At start-up it says, once
 * each: which providers run (and why, when the offline fallback does), where it listens and
 * where the demo page is, how many worker processes serve the port, and with
 * --tls-self-signed how a Node client trusts the certificate.
 *
 * With more than one worker (WORKERS / --workers, default one per core) this process is the
 * primary (src/server/cluster-primary.ts) and each worker runs this same command again
 * (src/server/cluster-worker.ts); WORKERS=1 is a single process, as before. With TLS it is one
 * process: the primary routes a connection by its first request line, which TLS hides.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { SpeechbridgeError } from '../errors/registry.ts';
import type { Config } from '../server/config.ts';
import type { Logger } from '../server/logging.ts';
import { ENGINE_FLAGS, configFromCommand } from './environment.ts';
import { engineOptions } from './engine-options.ts';

export function registerServeCommand(program: Command): void {
  const command = program
    .command('serve')
    .description('start the gateway on SERVER_NAME:SERVER_PORT (default 0.0.0.0:8080)')
    .addOption(new Option('--host <host>', 'address to listen on (SERVER_NAME)'))
    .addOption(new Option('-p, --port <port>', 'port to listen on, 0 for any free port (SERVER_PORT)'))
    .addOption(new Option('--max-upload-mb <mb>', 'largest accepted upload (MAX_UPLOAD_MB)'))
    .addOption(new Option('--workers <count>', 'processes serving the port, 1 for a single process (WORKERS; default one per core)'))
    .addOption(
      new Option('--tls-self-signed', 'serve https/wss with a local certificate for localhost, 127.0.0.1 and ::1, made once and kept (see speechbridge cert)'),
    )
    .addOption(new Option('--log-format <format>', 'log lines: pretty on a terminal, JSON otherwise (LOG_FORMAT)').choices(['auto', 'json', 'pretty']));
  engineOptions(command);
  command.action(async (options: { tlsSelfSigned?: boolean }) => {
    const flags = { ...ENGINE_FLAGS, host: 'SERVER_NAME', port: 'SERVER_PORT', maxUploadMb: 'MAX_UPLOAD_MB', logFormat: 'LOG_FORMAT', workers: 'WORKERS' };
    let config = await configFromCommand(command, flags);
    let certificate: import('../server/self-signed-cert.ts').LocalCertificate | undefined;
    if (options.tlsSelfSigned) {
      if (config.server.tls) throw new SpeechbridgeError('invalid_config', '--tls-self-signed and TLS_CERT/TLS_KEY both name a certificate: use one of them');
      const { ensureLocalCertificate } = await import('../server/self-signed-cert.ts');
      certificate = await ensureLocalCertificate();
      config = await configFromCommand(command, flags, { TLS_CERT: certificate.certPath, TLS_KEY: certificate.keyPath });
    }
    const { isClusterWorker } = await import('../server/cluster-worker.ts');
    if (isClusterWorker()) return serveAsWorker(config);
    // What can fail fast does, before the providers take their seconds to load.
    const { probeListen } = await import('../server/port-probe.ts');
    if (config.server.tls) for (const file of [config.server.tls.certPath, config.server.tls.keyPath]) await access(file, constants.R_OK);
    await probeListen(config.server.host, config.server.port);
    const [{ checkFfmpeg }, { startServer }, { createProviders }, { createLogger, resolveLogFormat }, { describeProviders }, { DEMO_PATH }, { trustLine }] =
      await Promise.all([
        import('../audio/ffmpeg-probe.ts'),
        import('../server/app.ts'),
        import('../server/provider-factory.ts'),
        import('../server/logging.ts'),
        import('../server/providers.ts'),
        import('../server/web-routes.ts'),
        import('../server/self-signed-cert.ts'),
      ]);
    const { watchProcessFaults } = await import('../server/process-faults.ts');
    const logger = createLogger(config.logLevel, resolveLogFormat(config.logFormat));
    for (const warning of config.warnings) logger.warn(warning);
    const ffmpeg = await checkFfmpeg();
    logger.debug({ ffmpeg: ffmpeg.version }, `ffmpeg ${ffmpeg.version} found`);
    const workers = workerCount(config, logger);
    if (workers > 1) return servePrimary(config, workers, logger);
    const providers = await createProviders(config, logger);
    logger.info({ engines: providers.summary }, `engines: ${describeProviders(providers.summary)}`);
    const server = await startServer({ config, providers, logger }).catch(async (error: unknown) => {
      await providers.close();
      throw error;
    });
    if (server.gateway) logger.info({ url: server.gateway.url }, `gateway protocol also on ${server.gateway.url}`);
    logListening(logger, config, server.url, DEMO_PATH);
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
      await providers.close();
      logger.flush();
      process.exit(0);
    };
    process.once('SIGINT', () => void stop('SIGINT'));
    process.once('SIGTERM', () => void stop('SIGTERM'));
  });
}

/** WORKERS, or 1 with TLS (said when WORKERS asked for more). */
function workerCount(config: Config, logger: Logger): number {
  const { count, chosenByDefault } = config.server.workers;
  if (count === 1 || !config.server.tls) return count;
  if (!chosenByDefault) {
    logger.warn(
      `WORKERS=${count} is not used with TLS: the server runs as one process (its workers are routed by the first request line, which TLS hides); ` +
        'terminate TLS at a load balancer or proxy in front to use every core',
    );
  }
  return 1;
}

function logListening(logger: Logger, config: Config, url: string, demoPath: string): void {
  const auth = config.apiTokens.length > 0 ? 'token' : 'open';
  logger.info(
    { url, auth, tls: Boolean(config.server.tls) },
    `speechbridge listening on ${url} (${auth === 'token' ? 'API_TOKENS required' : 'no token needed'}) — demo page: ${url}${demoPath}`,
  );
}

/** The primary: starts the workers, routes the port's connections to them, stops them on SIGTERM / SIGINT. */
async function servePrimary(config: Config, workers: number, logger: Logger): Promise<void> {
  const [{ startClusterPrimary }, { describeProviders }, { DEMO_PATH }] = await Promise.all([
    import('../server/cluster-primary.ts'),
    import('../server/providers.ts'),
    import('../server/web-routes.ts'),
  ]);
  // Without SECRET_KEY each process would sign client secrets with its own random key, and a
  // secret minted by one worker would be refused by the others: the workers share one.
  const workerEnvironment: Record<string, string> = config.secretKeys ? {} : { SECRET_KEY: randomBytes(48).toString('base64') };
  const primary = await startClusterPrimary({ workers, host: config.server.host, port: config.server.port, logger, workerEnvironment });
  logger.info({ engines: primary.first.engines }, `engines: ${describeProviders(primary.first.engines)}`);
  if (primary.first.gatewayUrl) logger.info({ url: primary.first.gatewayUrl }, `gateway protocol also on ${primary.first.gatewayUrl}`);
  logListening(logger, config, primary.url, DEMO_PATH);
  const byDefault = config.server.workers.chosenByDefault ? ', one per core' : '';
  logger.info({ workers, pids: primary.pids() }, `${workers} worker processes serve the port${byDefault} (WORKERS or --workers to change)`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await primary.close();
    logger.flush();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

/**
 * A worker: loads the providers (quietly, unless it is the first: start-up lines come once),
 * serves the connections the primary hands it, and reports a start-up failure to the
 * primary, which prints it.
 */
async function serveAsWorker(config: Config): Promise<void> {
  const [worker, { startServer }, { createProviders }, { createLogger, resolveLogFormat }, { watchProcessFaults }] = await Promise.all([
    import('../server/cluster-worker.ts'),
    import('../server/app.ts'),
    import('../server/provider-factory.ts'),
    import('../server/logging.ts'),
    import('../server/process-faults.ts'),
  ]);
  const logger = createLogger(config.logLevel, resolveLogFormat(config.logFormat));
  const assignment = worker.workerAssignment();
  try {
    const providers = await createProviders(config, assignment.announces ? logger : logger.child({}, { level: 'error' }));
    const server = await startServer({ config, providers, logger, ...worker.workerServerOptions(assignment) }).catch(async (error: unknown) => {
      await providers.close();
      throw error;
    });
    watchProcessFaults({ logger, counter: server.metrics.processFaults });
    worker.joinCluster(server, { engines: providers.summary, ...(server.gateway && { gatewayUrl: server.gateway.url }) }, async () => {
      await server.close();
      await providers.close();
      logger.flush();
    });
  } catch (error) {
    await worker.reportStartFailure(error);
    process.exit(1);
  }
}
