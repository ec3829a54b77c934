/**
 * The /v1/realtime door: takes an HTTP upgrade, checks the token before any WebSocket exists
 * (a refusal is a plain HTTP 401 with a JSON body), picks the dialect and the subprotocol,
 * and hands the socket to a RealtimeConnection (the connection handling is every WebSocket
 * door's, src/protocols/websocket-door.ts).
 *
 * - `?model=` names the LLM model (and is what `session.model` reports); `?intent=transcription`
 *   opens a transcription session; `?call_id=` (a sideband connection to a WebRTC or SIP call)
 *   is refused with 404, as there are no calls here to attach to.
 * - Dialect: beta when the client sends `OpenAI-Beta: realtime=v1` or offers the
 *   `openai-beta.realtime-v1` subprotocol, else GA.
 * - Subprotocol: `realtime` when offered (a browser fails the handshake if it offered
 *   protocols and none is selected), else `openai-beta.realtime-v1`, else what the other
 *   doors select (src/protocols/subprotocols.ts): the first other protocol offered, or the
 *   `openai-insecure-api-key.<token>` protocol when a browser offered only that one (it
 *   already holds the token, and its handshake would fail with no protocol selected); none
 *   when none was offered.
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { ErrorCode } from '../../errors/registry.ts';
import type { SessionKind } from '../../engine/events.ts';
import type { DoorAuth, TokenSources } from '../door-auth.ts';
import type { DoorMetrics } from '../door-metrics.ts';
import type { DoorLimits, DoorSessionFactory } from '../door-session.ts';
import type { SessionAdmission } from '../session-admission.ts';
import { errorSummary } from '../session-boundary.ts';
import { selectAnySubprotocol } from '../subprotocols.ts';
import { type Admission, WebSocketDoor } from '../websocket-door.ts';
import type { ClientSecret } from './client-secret.ts';
import { RealtimeConnection } from './adapter.ts';
import { REALTIME_FIELD_LIMITS } from './client-events.ts';
import { type Dialect, RealtimeCodec } from './codec.ts';
import { isSpeechModelName, REALTIME_SESSION_DEFAULTS } from './session-shape.ts';

export const REALTIME_PATH = '/v1/realtime';
const GA_SUBPROTOCOL = 'realtime';
const BETA_SUBPROTOCOL = 'openai-beta.realtime-v1';

/** The realtime door also opens a session with a live client secret, whose settings it applies. */
export interface RealtimeDoorAuth extends DoorAuth {
  /** The live client secret the client presented, if any. */
  clientSecret(sources: TokenSources): ClientSecret | undefined;
}

export interface RealtimeDoorOptions {
  auth: RealtimeDoorAuth;
  createSession: DoorSessionFactory;
  limits: DoorLimits;
  logger: Logger;
  metrics?: DoorMetrics;
  /** The per-token session limit (MAX_SESSIONS_PER_TOKEN); none when absent. */
  admission?: SessionAdmission;
}

export interface RealtimeHandshake {
  kind: SessionKind;
  dialect: Dialect;
  /** The LLM model: `?model=` unless it names one of OpenAI's speech models. */
  model?: string;
  /** `?model=` as given, reported back as `session.model`. */
  requestedModel?: string;
}

/** What an admitted upgrade carries to its connection. */
interface Admitted {
  handshake: RealtimeHandshake;
  /** Looked up once: a secret that expires during the handshake cannot open a session without its settings. */
  secret: ClientSecret | undefined;
}

export function createRealtimeDoor(options: RealtimeDoorOptions): WebSocketDoor<Admitted> {
  const { auth, createSession, limits, logger, metrics, admission } = options;
  return new WebSocketDoor<Admitted>({
    maxMessageBytes: limits.maxMessageBytes,
    selectProtocol: selectSubprotocol,
    admit: (request, protocols) => admit(auth, request, protocols),
    ...(admission && { sessionLimit: admission }),
    connect: (websocket, { handshake, secret }, stream) => {
      const boundKind = secret ? secretKind(secret.session) : undefined;
      const codec = new RealtimeCodec({
        dialect: handshake.dialect,
        kind: boundKind ?? handshake.kind,
        boundKind,
        expiresAtMs: Date.now() + limits.maxSessionMs,
        ...(handshake.requestedModel !== undefined && { requestedModel: handshake.requestedModel }),
      });
      const connection = new RealtimeConnection({
        socket: websocket,
        stream,
        codec,
        createSession: withRealtimeDefaults(createSession),
        model: handshake.model,
        initialSession: secret?.session,
        limits,
        logger,
        metrics,
      });
      void connection.start();
      return connection;
    },
    onConnectFailure: (error) => {
      metrics?.fault();
      logger.error({ fault: errorSummary(error) }, 'realtime connection could not be set up');
    },
  });
}

function admit(auth: RealtimeDoorAuth, request: IncomingMessage, protocols: string[]): Admission<Admitted> {
  const sources = { headers: request.headers, url: request.url, protocols };
  const secret = auth.clientSecret(sources);
  const refusal = secret ? undefined : auth.check(sources, { clientSecret: true });
  if (refusal) return { refused: { status: 401, code: 'invalid_api_key', message: refusal } };
  const handshake = readHandshake(request, protocols);
  if ('error' in handshake) {
    return { refused: { status: handshake.status ?? 400, code: handshake.code ?? 'invalid_value', message: handshake.error, param: handshake.param } };
  }
  // A session opened with a client secret counts against the token that minted it.
  return { admitted: { handshake, secret }, ...(secret?.owner !== undefined && { owner: secret.owner }) };
}

/** The session kind a client secret was minted for (its GA `type`; the beta transcription endpoint records one too). */
/** Sessions of this door start with its defaults under whatever the request sets. */
function withRealtimeDefaults(createSession: DoorSessionFactory): DoorSessionFactory {
  return (request) => createSession({ ...request, session: { ...REALTIME_SESSION_DEFAULTS, ...request.session } });
}

function secretKind(session: Record<string, unknown>): SessionKind {
  return session.type === 'transcription' ? 'transcription' : 'conversation';
}
export function selectSubprotocol(protocols: Set<string>): string | false {
  if (protocols.has(GA_SUBPROTOCOL)) return GA_SUBPROTOCOL;
  if (protocols.has(BETA_SUBPROTOCOL)) return BETA_SUBPROTOCOL;
  return selectAnySubprotocol(protocols);
}

export type HandshakeRefusal = { error: string; param: string; status?: number; code?: ErrorCode };

export function readHandshake(request: IncomingMessage, protocols: string[]): RealtimeHandshake | HandshakeRefusal {
  const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
  const callId = query.get('call_id');
  if (callId !== null) {
    // A sideband connection to a WebRTC or SIP call: there are none here, so no call_id names one (rather than a fresh, unrelated session).
    return {
      status: 404,
      code: 'not_found',
      error: `no call with call_id ${JSON.stringify(callId.slice(0, 64))}: this gateway runs no WebRTC or SIP calls to attach to; connect with ?model= (or ?intent=transcription) for a new session`,
      param: 'call_id',
    };
  }
  const intent = query.get('intent');
  if (intent !== null && intent !== 'transcription' && intent !== 'realtime') {
    return { error: `unknown intent ${JSON.stringify(intent)}: use intent=transcription for a transcription session, or leave it out`, param: 'intent' };
  }
  const betaHeader = request.headers['openai-beta'];
  const beta = (typeof betaHeader === 'string' && /\brealtime=v1\b/.test(betaHeader)) || protocols.includes(BETA_SUBPROTOCOL);
  const requested = query.get('model');
  if (requested !== null && requested.length > REALTIME_FIELD_LIMITS.nameChars) {
    return { error: `?model= is ${requested.length} characters; a model name has at most ${REALTIME_FIELD_LIMITS.nameChars}`, param: 'model' };
  }
  const model = requested && !isSpeechModelName(requested) ? requested : undefined;
  return {
    kind: intent === 'transcription' ? 'transcription' : 'conversation',
    dialect: beta ? 'beta' : 'ga',
    ...(model && { model }),
    ...(requested && { requestedModel: requested }),
  };
}
