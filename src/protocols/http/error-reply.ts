/**
 * Turns anything thrown in an HTTP route into an OpenAI-style error body
 * `{"error":{"message","type","param","code"}}` with the right status.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { SpeechbridgeError, toSpeechbridgeError } from '../../engine/errors.ts';

/** Fastify's own error codes for bad requests, mapped onto the registry. */
function fromFastifyError(error: FastifyError, maxUploadBytes: number): SpeechbridgeError | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new SpeechbridgeError('invalid_content_type', `unsupported Content-Type ${JSON.stringify(error.message.split(': ').pop())}`, { status: 415 });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new SpeechbridgeError('payload_too_large', `request body is larger than the limit of ${maxUploadBytes} bytes (MAX_UPLOAD_MB)`, { status: 413, param: 'file' });
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
      if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) return new SpeechbridgeError('invalid_value', error.message, { status: error.statusCode });
      return undefined;
  }
}

export function errorHandler(maxUploadBytes: number) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const failure = fromFastifyError(error, maxUploadBytes) ?? toSpeechbridgeError(error);
    if (failure.status >= 500) request.log.error({ err: error, code: failure.code }, 'request failed');
    else request.log.info({ code: failure.code, message: failure.message }, 'request rejected');
    if (reply.sent || reply.raw.headersSent) {
      // Headers are gone (a stream failed midway): all that is left is to cut the connection.
      reply.raw.destroy(failure);
      return;
    }
    void reply.status(failure.status).type('application/json; charset=utf-8').send(failure.toBody());
  };
}
