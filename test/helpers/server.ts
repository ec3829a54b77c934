/** The one way tests start a real speechbridge server: on 127.0.0.1, port 0, around the given providers. */
import { startServer, type RunningServer } from '../../src/server/app.ts';
import { loadConfig } from '../../src/server/config.ts';
import { createProviders } from '../../src/server/provider-factory.ts';
import type { Providers } from '../../src/server/providers.ts';
import { createLogger } from '../../src/server/logging.ts';
import type { Responder, Synthesizer, Transcriber } from '../../src/providers/contracts.ts';
import { EchoResponder } from '../../src/providers/local/echo-responder.ts';
import { ScriptedSynthesizer } from '../../src/providers/testing/scripted-synthesizer.ts';
import { ScriptedTranscriber } from '../../src/providers/testing/scripted-transcriber.ts';

export interface TestProviders {
  transcriber?: Transcriber;
  responder?: Responder;
  synthesizer?: Synthesizer;
}

export function assembleProviders(parts: TestProviders): Providers {
  const transcriber: Transcriber = parts.transcriber ?? new ScriptedTranscriber();
  const responder: Responder = parts.responder ?? new EchoResponder();
  const synthesizer: Synthesizer = parts.synthesizer ?? new ScriptedSynthesizer();
  return {
    transcriber,
    responder,
    synthesizer,
    summary: {
      transcriber: { engine: transcriber.name },
      responder: { engine: responder.name },
      synthesizer: { engine: synthesizer.name },
      vad: { engine: 'webrtc-vad' },
    },
    close: async () => {
      await Promise.allSettled([transcriber.close?.(), synthesizer.close?.()]);
    },
  };
}

export interface TestServer extends RunningServer {
  /** ws:// or wss:// URL of /v1/realtime. */
  realtimeUrl: string;
}

/**
 * The real server on 127.0.0.1 port 0 around `providers` (missing providers are scripted fakes);
 * env: extra configuration variables (strings, as in the environment). Logs are silent unless
 * TEST_LOG_LEVEL says otherwise.
 */
export async function startTestServer(providers: TestProviders | Providers, env: Record<string, string> = {}): Promise<TestServer> {
  const config = loadConfig({ SERVER_NAME: '127.0.0.1', SERVER_PORT: '0', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', ...env });
  const full = 'summary' in providers ? (providers as Providers) : assembleProviders(providers);
  const server = await startServer({ config, providers: full, logger: createLogger(config.logLevel) });
  return { ...server, realtimeUrl: `${server.url.replace(/^http/, 'ws')}/v1/realtime` };
}

/**
 * The real server on 127.0.0.1 port 0 around the providers its configuration picks (as `serve`
 * builds them: ASR_ENGINE, upstream URLs, keys…); closing it closes the providers too.
 */
export async function startConfiguredServer(env: Record<string, string>): Promise<TestServer> {
  const config = loadConfig({ SERVER_NAME: '127.0.0.1', SERVER_PORT: '0', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', ...env });
  const logger = createLogger(config.logLevel);
  const providers = await createProviders(config, logger);
  const server = await startServer({ config, providers, logger }).catch(async (error: unknown) => {
    await providers.close();
    throw error;
  });
  const close = async () => {
    await server.close();
    await providers.close();
  };
  return { ...server, close, realtimeUrl: `${server.url.replace(/^http/, 'ws')}/v1/realtime` };
}
