// @ts-check
/**
 * The realtime WebSocket to the gateway (`/v1/realtime`, OpenAI Realtime GA events), with
 * its lifecycle as one state and automatic reconnection.
 *
 * - The token travels as the `openai-insecure-api-key.<token>` subprotocol next to `realtime`
 *   (a browser WebSocket cannot set headers), never in the URL.
 * - A browser WebSocket cannot read the HTTP status of a refused handshake. When a socket
 *   closes before it opened, the page asks the same URL over plain HTTP with the token as a
 *   bearer header: a 401 there is an auth refusal (shown, and no retry, since retrying with
 *   the same token cannot succeed); no answer or a 5xx means the gateway is down or
 *   restarting, so it retries.
 * - A socket that drops after it opened is reconnected with exponential backoff and jitter.
 */

/**
 * @typedef {{ state: 'idle' }
 *   | { state: 'connecting', attempt: number }
 *   | { state: 'live' }
 *   | { state: 'reconnecting', attempt: number, delayMs: number, reason: string }
 *   | { state: 'closed', reason: string, fatal: boolean, auth?: boolean }} ConnectionStatus
 */

/** 0.5 s doubling to 8 s: quick after a blip, gentle on a gateway that is down for longer. */
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 8000;
/** An auth probe that takes longer than this is treated as no answer. */
const PROBE_TIMEOUT_MS = 5000;
/** Outbound bytes the socket may hold before audio is dropped: 1 MB is about 20 s of 24 kHz PCM16 in base64. */
export const MAX_BUFFERED_BYTES = 1024 * 1024;

export class GatewaySocket {
  /**
   * @param {{
   *   url: URL,
   *   token: string,
   *   onStatus: (status: ConnectionStatus) => void,
   *   onOpen: () => void,
   *   onEvent: (event: { type: string } & Record<string, any>) => void,
   * }} options
   */
  constructor(options) {
    this.options = options;
    /** @type {WebSocket | null} */
    this.socket = null;
    /** @type {ConnectionStatus} */
    this.status = { state: 'idle' };
    this.attempt = 0;
    this.stopped = true;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
    /** Aborts an auth probe in flight when the page stops. */
    this.probeAbort = new AbortController();
  }

  start() {
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  /** @param {string} reason */
  stop(reason) {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.probeAbort.abort();
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000, 'client stopped');
    this.setStatus({ state: 'closed', reason, fatal: false });
  }

  /** Marks the session live (the page calls it on session.created). */
  markLive() {
    this.attempt = 0;
    this.setStatus({ state: 'live' });
  }

  get isOpen() {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  get bufferedAmount() {
    return this.socket?.bufferedAmount ?? 0;
  }

  /**
   * Sends one client event; false when the socket is not open.
   * @param {Record<string, unknown>} event
   */
  send(event) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(event));
    return true;
  }

  connect() {
    const { url, token } = this.options;
    this.setStatus({ state: 'connecting', attempt: this.attempt });
    const protocols = token ? ['realtime', `openai-insecure-api-key.${token}`] : ['realtime'];
    /** @type {WebSocket} */
    let socket;
    try {
      socket = new WebSocket(url, protocols);
    } catch (error) {
      // A token with characters a subprotocol cannot carry (spaces, commas) throws SyntaxError here.
      this.fail(`Cannot open the connection: ${/** @type {Error} */ (error).message}. Check the token.`, true);
      return;
    }
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.options.onOpen();
    };
    socket.onmessage = (message) => {
      if (typeof message.data !== 'string') return;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (event && typeof event.type === 'string') this.options.onEvent(event);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      if (opened) this.retry(describeClose(event));
      else void this.afterRefusedHandshake();
    };
  }

  async afterRefusedHandshake() {
    const verdict = await probe(this.options.url, this.options.token, this.probeAbort.signal);
    if (this.stopped) return;
    if (verdict.kind === 'auth') {
      const given = this.options.token ? 'Check the token.' : 'This gateway needs an API token: enter one.';
      this.fail(`The server refused the connection (${verdict.message}). ${given}`, true);
    } else if (verdict.kind === 'refused') {
      this.fail(`The server refused the connection: ${verdict.message}`);
    } else {
      this.retry(verdict.message);
    }
  }

  /** @param {string} reason */
  retry(reason) {
    const delayMs = Math.round(Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.attempt) * (0.75 + Math.random() * 0.5));
    this.attempt++;
    this.setStatus({ state: 'reconnecting', attempt: this.attempt, delayMs, reason });
    this.retryTimer = setTimeout(() => {
      if (!this.stopped) this.connect();
    }, delayMs);
  }

  /**
   * @param {string} reason
   * @param {boolean} [auth] the token was refused
   */
  fail(reason, auth = false) {
    this.stopped = true;
    this.setStatus({ state: 'closed', reason, fatal: true, auth });
  }

  /** @param {ConnectionStatus} status */
  setStatus(status) {
    this.status = status;
    this.options.onStatus(status);
  }
}

/**
 * Why the handshake failed, asked over HTTP: the gateway checks tokens on every `/v1/` request,
 * so a GET of the realtime path answers 401 exactly when the WebSocket was refused for its token.
 * @param {URL} socketUrl
 * @param {string} token
 * @param {AbortSignal} signal
 * @returns {Promise<{ kind: 'auth' | 'refused' | 'unreachable', message: string }>}
 */
async function probe(socketUrl, token, signal) {
  const url = new URL(socketUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  try {
    const response = await fetch(url, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      cache: 'no-store',
      signal: AbortSignal.any([signal, AbortSignal.timeout(PROBE_TIMEOUT_MS)]),
    });
    const message = await errorMessageOf(response);
    if (response.status === 401 || response.status === 403) return { kind: 'auth', message };
    // 400: the handshake itself was wrong (a bad ?intent=); retrying the same request cannot help.
    if (response.status === 400) return { kind: 'refused', message };
    return { kind: 'unreachable', message: `the gateway did not accept the connection (${message})` };
  } catch {
    return { kind: 'unreachable', message: 'the gateway is not reachable' };
  }
}

/** @param {Response} response */
async function errorMessageOf(response) {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text);
    if (typeof body?.error?.message === 'string') return `${response.status}: ${body.error.message}`;
  } catch {
    // Not the gateway's JSON error body; the status says enough.
  }
  return `HTTP ${response.status}`;
}

/** @param {CloseEvent} event */
function describeClose(event) {
  const reasons = /** @type {Record<number, string>} */ ({ 1000: 'closed', 1001: 'the server went away', 1006: 'the connection dropped', 1011: 'server error' });
  const known = reasons[event.code] ?? `closed with code ${event.code}`;
  return event.reason ? `${known}: ${event.reason}` : known;
}
