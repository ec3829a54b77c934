/**
 * Ephemeral client secrets for realtime sessions, as OpenAI serves them, so a backend using
 * the official SDK (`client.realtime.clientSecrets.create(…)`) mints a short-lived key for its
 * browser or phone client:
 *
 * - GA `POST /v1/realtime/client_secrets` `{expires_after?: {anchor, seconds}, session?}` →
 *   `{value, expires_at, session}`;
 * - beta `POST /v1/realtime/sessions` and `/v1/realtime/transcription_sessions` (the session
 *   fields at the top level, `client_secret.expires_after` optional) → the session object
 *   with `client_secret: {value, expires_at}`.
 *
 * The session is validated now, exactly as a session.update would be, so a bad field is a 400
 * here rather than an error event later; the secret carries it (signed, so any instance with
 * the same SECRET_KEY opens it) and the session opened with the secret starts with it. Minting needs a real API token (the /v1 auth hook); only
 * /v1/realtime accepts the secret itself.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { SpeechbridgeError, type ErrorCode } from '../../errors/registry.ts';
import type { ResponseMode, SessionKind } from '../../engine/events.ts';
import { applySessionUpdate, initialSessionConfig, type SessionDefaults } from '../../engine/session-config.ts';
import { checkJsonValue } from '../bounded-json.ts';
import { zodFailure } from '../http/validation.ts';
import { CLIENT_SECRET_TTL_RANGE_S, DEFAULT_CLIENT_SECRET_TTL_S, type ClientSecretMinter } from './client-secret.ts';
import { RealtimeCodec, type Dialect } from './codec.ts';
import { wireParamOf } from './session-shape.ts';

export interface ClientSecretsRouteOptions {
  secrets: ClientSecretMinter;
  defaults: SessionDefaults;
  responderModes: readonly ResponseMode[];
  /** Who is minting (from the request's token): the sessions the secret opens count against it. */
  ownerOf(headers: IncomingHttpHeaders): string;
}

const EXPIRES_AFTER = z.object({
  anchor: z.literal('created_at').default('created_at'),
  seconds: z.number().int().min(CLIENT_SECRET_TTL_RANGE_S[0]).max(CLIENT_SECRET_TTL_RANGE_S[1]).default(DEFAULT_CLIENT_SECRET_TTL_S),
});
const SESSION = z.record(z.string(), z.unknown());
const GA_BODY = z.object({ expires_after: EXPIRES_AFTER.optional(), session: SESSION.optional() });
const BETA_BODY = z.looseObject({ client_secret: z.object({ expires_after: EXPIRES_AFTER.optional() }).optional() });

export function registerClientSecretsRoute(app: FastifyInstance, options: ClientSecretsRouteOptions): void {
  app.post('/v1/realtime/client_secrets', async (request) => {
    const body = parse(GA_BODY, request.body ?? {});
    const wire = body.session ?? { type: 'realtime' };
    const kind: SessionKind = wire.type === 'transcription' ? 'transcription' : 'conversation';
    const session = validatedSession(options, wire, 'ga', kind);
    const secret = options.secrets.mint(body.expires_after?.seconds ?? DEFAULT_CLIENT_SECRET_TTL_S, wire, options.ownerOf(request.headers));
    return { value: secret.value, expires_at: secret.expiresAt, session };
  });

  for (const [path, kind] of [
    ['/v1/realtime/sessions', 'conversation'],
    ['/v1/realtime/transcription_sessions', 'transcription'],
  ] as const) {
    app.post(path, async (request) => {
      const { client_secret: clientSecret, ...wire } = parse(BETA_BODY, request.body ?? {});
      const session = validatedSession(options, wire, 'beta', kind);
      // The beta transcription endpoint implies the kind; the secret remembers it in GA spelling.
      const carried = kind === 'transcription' ? { ...wire, type: 'transcription' } : wire;
      const secret = options.secrets.mint(clientSecret?.expires_after?.seconds ?? DEFAULT_CLIENT_SECRET_TTL_S, carried, options.ownerOf(request.headers));
      return { ...session, client_secret: { value: secret.value, expires_at: secret.expiresAt } };
    });
  }
}

function parse<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw zodFailure(parsed.error);
  return parsed.data;
}

/** The session object a connection opened with this configuration would report; a bad field throws 400. */
function validatedSession(options: ClientSecretsRouteOptions, wire: Record<string, unknown>, dialect: Dialect, kind: SessionKind): Record<string, unknown> {
  // The body's JSON was parsed by fastify: the door's bounds apply before it is serialised (and stored) here.
  const outOfBounds = checkJsonValue(wire);
  if (outOfBounds) {
    // GA bodies hold the session under `session`; beta bodies are the session.
    const param = dialect === 'ga' ? ['session', outOfBounds.param].filter(Boolean).join('.') : outOfBounds.param;
    throw new SpeechbridgeError(outOfBounds.code, outOfBounds.message, { param });
  }
  const codec = new RealtimeCodec({ dialect, kind, expiresAtMs: Date.now() });
  const decoded = codec.decode(JSON.stringify({ type: 'session.update', session: wire }));
  if (decoded.type === 'error') {
    const error = decoded.event.error as { code: ErrorCode; message: string; param: string | null };
    throw new SpeechbridgeError(error.code, error.message, { param: error.param });
  }
  if (decoded.input.type !== 'session.update') throw new SpeechbridgeError('internal_error', 'a session.update decoded as something else');
  const initial = initialSessionConfig({ ...options.defaults, kind }, options.responderModes);
  try {
    const config = applySessionUpdate(initial, decoded.input.session, options.responderModes);
    const [created] = codec.sessionCreated(config);
    return created.session as Record<string, unknown>;
  } catch (error) {
    // The engine names fields its own way (session.turnDetection.endMs); the client wants the wire name.
    if (error instanceof SpeechbridgeError) throw new SpeechbridgeError(error.code, error.message, { param: wireParamOf(error.param, dialect) });
    throw error;
  }
}
