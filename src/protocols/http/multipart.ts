/** Reads a multipart/form-data body into its fields and (at most) one file, within the upload limit. */
import type { FastifyRequest } from 'fastify';
import { SpeechbridgeError } from '../../engine/errors.ts';

export interface UploadedFile {
  fieldname: string;
  filename: string;
  mimetype: string;
  bytes: Buffer;
}

export interface MultipartBody {
  fields: Record<string, string>;
  file?: UploadedFile;
}

export async function readMultipart(request: FastifyRequest, fileField = 'file'): Promise<MultipartBody> {
  if (!request.isMultipart()) {
    const type = request.headers['content-type'] ?? 'none';
    throw new SpeechbridgeError('invalid_content_type', `expected Content-Type multipart/form-data, got ${type}`, { status: 415 });
  }
  const fields: Record<string, string> = {};
  let file: UploadedFile | undefined;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        // toBuffer() throws FST_REQ_FILE_TOO_LARGE past the limit set at registration.
        const bytes = await part.toBuffer();
        if (part.fieldname === fileField && !file) file = { fieldname: part.fieldname, filename: part.filename, mimetype: part.mimetype, bytes };
      } else {
        // Array fields such as timestamp_granularities[] keep their last value.
        fields[part.fieldname.replace(/\[\]$/, '')] = String(part.value);
      }
    }
  } catch (error) {
    throw malformed(error);
  }
  return { fields, file };
}

/**
 * The multipart parser's own errors (no boundary, a body that ends inside a part) carry no
 * code: they are the client's malformed body, a 400, not a server failure. Errors with a code
 * (the plugin's limits, a dropped connection) keep it for the error handler.
 */
function malformed(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof SpeechbridgeError || typeof (error as { code?: unknown }).code === 'string') return error;
  return new SpeechbridgeError('invalid_value', `the multipart/form-data body is malformed: ${error.message}`);
}
