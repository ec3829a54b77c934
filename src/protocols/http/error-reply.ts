/**
 * Turns anything thrown in an HTTP route into an OpenAI-style error body
 * `{"error":{"message","type","param","code"}}` with the right status.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { SpeechbridgeError, toSpeechbridgeError } from '../../errors/registry.ts';
import { replyWithoutReadingBody } from './body-limit.ts';

/** Fastify's own error codes for bad requests, mapped onto the registry. */
function fromFastifyError(error: FastifyError, maxUploadBytes: number, bodyLimit: number): SpeechbridgeError | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new SpeechbridgeError('invalid_content_type', `unsupported Content-Type ${JSON.stringify(error.message.split(': ').pop())}`, { status: 415 });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      // JSON bodies have their own limit; MAX_UPLOAD_MB is for multipart files only.
      return new SpeechbridgeError('payload_too_large', `request body is larger than the limit of ${bodyLimit} bytes for a JSON body`, { status: 413 });
    case 'FST_REQ_FILE_TOO_LARGE':
      return new SpeechbridgeError('payload_too_large', `request body is larger than the limit of ${maxUploadBytes} bytes (MAX_UPLOAD_MB)`, {
        status: 413,
        param: 'file',
      });
    // A count limit is not a size problem: saying "too large" would send the user looking at the file size.
    case 'FST_FILES_LIMIT':
      return new SpeechbridgeError('invalid_value', 'the multipart body has more than one file part: send one audio file, as form field "file"', {
        param: 'file',
      });
    case 'FST_FIELDS_LIMIT':
    case 'FST_PARTS_LIMIT':
      return new SpeechbridgeError('invalid_value', 'the multipart body has more form fields than the server accepts: send only the documented fields');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new SpeechbridgeError('empty_input', 'request body is empty: send a JSON object');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new SpeechbridgeError('invalid_json', `request body is not valid JSON: ${error.message}`);
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new SpeechbridgeError('invalid_content_type', 'expected a multipart/form-data body', { status: 415 });
    default:
      if (error.statusCode === 413) return new SpeechbridgeError('payload_too_large', error.message, { status: 413 });
      if (error instanceof SyntaxError) return new SpeechbridgeError('invalid_json', `request body is not valid JSON: ${error.message}`);
      if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500)
        return new SpeechbridgeError('invalid_value', error.message, { status: error.statusCode });
      return undefined;
  }
}

/** The client closed the connection (mid-upload, or while its request was being worked on). */
function clientGone(request: FastifyRequest): boolean {
  const socket = request.raw.socket;
  return !socket || socket.destroyed;
}

export function errorHandler(maxUploadBytes: number) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const failure = fromFastifyError(error, maxUploadBytes, request.routeOptions.bodyLimit) ?? toSpeechbridgeError(error);
    if (clientGone(request)) {
      // The aborted upload or the cancelled work is the client's doing, not a server failure.
      request.log.info({ code: failure.code, message: failure.message }, 'client disconnected before the reply');
    } else if (failure.status >= 500) request.log.error({ err: error, code: failure.code }, 'request failed');
    else request.log.info({ code: failure.code, message: failure.message }, 'request rejected');
    if (reply.sent || reply.raw.headersSent) {
      // Headers are gone (a stream failed midway): all that is left is to cut the connection.
      reply.raw.destroy(failure);
      return;
    }
    // A rate-limited upstream says when to come back (passed on as it said, clamped); a busy
    // engine frees up within a turn or two, so 1 s; the SDKs' own backoff reads the header.
    if (failure.status === 429) void reply.header('retry-after', String(failure.retryAfterSeconds ?? 1));
    if (!request.raw.complete) {
      replyWithoutReadingBody(request, reply, failure);
      return;
    }
    void reply.status(failure.status).type('application/json; charset=utf-8').send(failure.toBody());
  };
}
