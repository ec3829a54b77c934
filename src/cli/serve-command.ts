/** `speechbridge serve`: start the gateway (what `npm start` runs). */
import { Command, Option } from 'commander';
import { checkFfmpeg } from '../audio/ffmpeg.ts';
import { startServer } from '../server/app.ts';
import { createEngines } from '../server/engine-factory.ts';
import { createLogger } from '../server/logging.ts';
import { watchProcessFaults } from '../server/process-faults.ts';
import { ENGINE_FLAGS, configFromCommand } from './environment.ts';
import { engineOptions } from './engine-options.ts';

export function registerServeCommand(program: Command): void {
  const command = program
    .command('serve')
    .description('start the gateway on SERVER_NAME:SERVER_PORT (default 0.0.0.0:8080)')
    .addOption(new Option('--host <host>', 'address to listen on (SERVER_NAME)'))
    .addOption(new Option('-p, --port <port>', 'port to listen on, 0 for any free port (SERVER_PORT)'))
    .addOption(new Option('--max-upload-mb <mb>', 'largest accepted upload (MAX_UPLOAD_MB)'));
  engineOptions(command);
  command.action(async () => {
    const config = configFromCommand(command, { ...ENGINE_FLAGS, host: 'SERVER_NAME', port: 'SERVER_PORT', maxUploadMb: 'MAX_UPLOAD_MB' });
    const logger = createLogger(config.logLevel);
    const ffmpeg = await checkFfmpeg();
    logger.info({ ffmpeg: ffmpeg.version }, 'ffmpeg found');
    const engines = await createEngines(config, logger);
    logger.info({ engines: engines.summary }, 'engines ready');
    const server = await startServer({ config, engines, logger });
    logger.info({ url: server.url, auth: config.apiTokens.length > 0 ? 'token' : 'open', tls: Boolean(config.server.tls) }, `speechbridge listening on ${server.url}`);
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
