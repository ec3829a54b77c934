/**
 * GET /v1/models and GET /v1/models/:id, OpenAI-compatible, for clients and tools that list
 * models before they call (`client.models.list()`). The gateway takes any model name on its
 * audio and realtime endpoints; these are the names it recognises, each with what it serves:
 * OpenAI's usual names for each endpoint, and the engines actually configured.
 */
import type { FastifyInstance } from 'fastify';
import { SpeechbridgeError } from '../../errors/registry.ts';

interface ModelEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/** Names clients send to each endpoint; all of them reach the configured engine. */
const ENDPOINT_MODELS = [
  'whisper-1',
  'gpt-4o-transcribe',
  'gpt-4o-mini-transcribe',
  'tts-1',
  'tts-1-hd',
  'gpt-4o-mini-tts',
  'gpt-realtime',
  'gpt-4o-realtime-preview',
];

/** The models the configured engines run, where they name one (the server's engine summary). */
export interface ConfiguredModels {
  transcriber: { model?: string };
  responder: { model?: string };
  synthesizer: { model?: string };
}

export function registerModelsRoute(app: FastifyInstance, summary: ConfiguredModels): void {
  const created = Math.floor(Date.now() / 1000);
  const entry = (id: string): ModelEntry => ({ id, object: 'model', created, owned_by: 'speechbridge' });
  const configured = [summary.transcriber.model, summary.responder.model, summary.synthesizer.model].filter((id): id is string => Boolean(id));
  const models = [...new Set([...configured, ...ENDPOINT_MODELS])].map(entry);

  app.get('/v1/models', async () => ({ object: 'list', data: models }));
  app.get<{ Params: { id: string } }>('/v1/models/:id', async (request) => {
    const found = models.find((model) => model.id === request.params.id);
    if (!found) throw new SpeechbridgeError('model_not_found', `no model "${request.params.id}"; GET /v1/models lists them`, { status: 404, param: 'model' });
    return found;
  });
}
