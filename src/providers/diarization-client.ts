/**
 * Client of a speaker-diarization upstream (DIAR_URL): the uploaded audio file is POSTed as
 * multipart field `file`, with DIARIZATION_TOKEN as a Bearer token, and the upstream's JSON
 * answer is returned as it is, for the caller to pass on. Failures are SpeechbridgeErrors
 * naming the upstream (URL without credentials) and the HTTP status, never the token.
 */
import { abortError, isAbortError, throwIfAborted } from '../errors/abort.ts';
import { SpeechbridgeError } from '../errors/registry.ts';
import { startDeadline } from './deadline.ts';
import { connectionReason, displayURL } from './openai/errors.ts';

/** Diarization of an hour of audio is a few hundred KB of JSON; 8 MB means something else is being sent. */
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;
/** Upstream text quoted in an error message is cut here: error pages can be whole HTML documents. */
const MAX_QUOTED_CHARS = 200;

export interface DiarizationClientOptions {
  /** DIAR_URL: the endpoint itself, e.g. https://diarizer.example/diarize. */
  url: string;
  /** DIARIZATION_TOKEN; absent sends no Authorization header. */
  token?: string;
  /** REQUEST_TIMEOUT in ms: the whole call, upload and answer. */
  timeoutMs: number;
}

export interface DiarizationAudio {
  bytes: Uint8Array;
  filename: string;
  mimetype: string;
}

export class DiarizationClient {
  private readonly options: DiarizationClientOptions;

  constructor(options: DiarizationClientOptions) {
    this.options = options;
  }

  async diarize(audio: DiarizationAudio, signal: AbortSignal): Promise<unknown> {
    throwIfAborted(signal);
    const url = displayURL(this.options.url);
    const deadline = startDeadline(this.options.timeoutMs, signal);
    try {
      const form = new FormData();
      // Uploads are plain Buffers, never backed by a SharedArrayBuffer, so the view is passed without a copy.
      form.append(
        'file',
        new Blob([audio.bytes as Uint8Array<ArrayBuffer>], { type: audio.mimetype || 'application/octet-stream' }),
        audio.filename || 'audio',
      );
      let response: Response;
      try {
        response = await fetch(this.options.url, {
          method: 'POST',
          body: form,
          headers: this.options.token ? { authorization: `Bearer ${this.options.token}` } : {},
          signal: deadline.signal,
        });
      } catch (error) {
        throw this.failure(
          error,
          deadline,
          () => new SpeechbridgeError('upstream_unreachable', `could not reach the diarization upstream ${url}: ${connectionReason(error)}`, { cause: error }),
        );
      }
      const body = await readBounded(response, deadline.signal).catch((error: unknown) => {
        throw this.failure(error, deadline, () =>
          error instanceof SpeechbridgeError
            ? error
            : new SpeechbridgeError('upstream_bad_response', `the diarization upstream ${url} broke off its answer: ${connectionReason(error)}`, {
                cause: error,
              }),
        );
      });
      if (!response.ok) {
        const quoted = quote(body);
        if (response.status === 401 || response.status === 403) {
          throw new SpeechbridgeError(
            'upstream_error',
            `the diarization upstream ${url} rejected the credentials (HTTP ${response.status}); check DIARIZATION_TOKEN`,
          );
        }
        throw new SpeechbridgeError('upstream_error', `the diarization upstream ${url} answered HTTP ${response.status}${quoted ? `: ${quoted}` : ''}`);
      }
      try {
        return JSON.parse(body) as unknown;
      } catch {
        throw new SpeechbridgeError(
          'upstream_bad_response',
          `the diarization upstream ${url} answered with a body that is not JSON${body ? `: ${quote(body)}` : ' (empty)'}`,
        );
      }
    } finally {
      deadline.dispose();
    }
  }

  /** A deliberate abort stays an AbortError, the deadline's becomes upstream_timeout, anything else `otherwise()`. */
  private failure(error: unknown, deadline: ReturnType<typeof startDeadline>, otherwise: () => SpeechbridgeError): Error {
    if (deadline.timedOut()) {
      return new SpeechbridgeError(
        'upstream_timeout',
        `the diarization upstream ${displayURL(this.options.url)} did not answer within ${this.options.timeoutMs} ms (REQUEST_TIMEOUT)`,
        { cause: error },
      );
    }
    if (deadline.signal.aborted || isAbortError(error)) {
      return abortError();
    }
    return otherwise();
  }
}

/** The body as text, failing with upstream_bad_response past MAX_RESPONSE_BYTES. */
async function readBounded(response: Response, signal: AbortSignal): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      throwIfAborted(signal);
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > MAX_RESPONSE_BYTES) {
        throw new SpeechbridgeError('upstream_bad_response', `the diarization upstream ${displayURL(response.url)} sent more than ${MAX_RESPONSE_BYTES} bytes`);
      }
      parts.push(value);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return Buffer.concat(parts).toString('utf8');
}

function quote(text: string): string {
  const flat = text
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return flat.length > MAX_QUOTED_CHARS ? `${flat.slice(0, MAX_QUOTED_CHARS)}…` : flat;
}
