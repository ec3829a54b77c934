/**
 * Reads a multipart/form-data body into its fields and (at most) one file, within the upload
 * limits: the file stops at MAX_UPLOAD_MB and the whole body at that plus room for the form
 * fields, each refused with 413 the moment it passes its limit rather than once the body has
 * been read to its end (src/protocols/http/body-limit.ts stops the reading).
 */
import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { SpeechbridgeError } from '../../errors/registry.ts';
import { watchBodySize } from './body-limit.ts';

/** Form fields around the file: 20 of at most 64 KB each (the longest documented one, `prompt`, is 10,000 characters). */
export const MULTIPART_FIELD_LIMITS = { files: 1, fields: 20, fieldSize: 64 * 1024 } as const;
/** Part headers, boundaries and line breaks: a few hundred bytes per part in practice. */
const MULTIPART_FRAMING_BYTES = 64 * 1024;

export interface UploadLimits {
  /** The largest file (MAX_UPLOAD_MB). */
  maxFileBytes: number;
  /** The largest whole body: the file, every field at its limit, and the framing. */
  maxBodyBytes: number;
}

export function uploadLimits(maxFileBytes: number): UploadLimits {
  const fieldBytes = MULTIPART_FIELD_LIMITS.fields * MULTIPART_FIELD_LIMITS.fieldSize;
  return { maxFileBytes, maxBodyBytes: maxFileBytes + fieldBytes + MULTIPART_FRAMING_BYTES };
}

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

export async function readMultipart(request: FastifyRequest, limits: UploadLimits, fileField = 'file'): Promise<MultipartBody> {
  if (!request.isMultipart()) {
    const type = request.headers['content-type'] ?? 'none';
    throw new SpeechbridgeError('invalid_content_type', `expected Content-Type multipart/form-data, got ${type}`, { status: 415 });
  }
  const fields: Record<string, string> = {};
  let file: UploadedFile | undefined;
  let refuseOversizedBody: (error: SpeechbridgeError) => void = () => {};
  const oversizedBody = new Promise<never>((_resolve, reject) => (refuseOversizedBody = reject));
  // Settled only through the races below; this keeps an unraced rejection from being reported as unhandled.
  oversizedBody.catch(() => {});
  const parts = request.parts();
  // The first step starts the parser, which pipes the request into busboy; the size watch
  // then counts the same bytes (a field or a preamble busboy reads and drops counts too).
  const first = parts.next();
  const stopWatching = watchBodySize(request.raw, limits.maxBodyBytes, (bytes) => {
    request.raw.unpipe();
    request.raw.pause();
    refuseOversizedBody(
      new SpeechbridgeError(
        'payload_too_large',
        `request body passed ${bytes} bytes, over the limit of ${limits.maxBodyBytes} bytes (MAX_UPLOAD_MB and the form fields)`,
        {
          status: 413,
        },
      ),
    );
  });
  const within = <T>(step: Promise<T>) => Promise.race([step, oversizedBody]);
  try {
    for (let next = await within(first); !next.done; next = await within(parts.next())) {
      const part = next.value;
      if (part.type === 'file') {
        const bytes = await readFilePart(part.file, limits.maxFileBytes, within);
        if (part.fieldname === fileField && !file) file = { fieldname: part.fieldname, filename: part.filename, mimetype: part.mimetype, bytes };
      } else {
        // Array fields such as timestamp_granularities[] keep their last value.
        fields[part.fieldname.replace(/\[\]$/, '')] = String(part.value);
      }
    }
  } catch (error) {
    throw malformed(error);
  } finally {
    stopWatching();
  }
  return { fields, file };
}

/**
 * A file part's bytes; 413 as soon as busboy cuts the file at the limit (its 'limit' event),
 * not when the part ends: busboy reads the rest of a cut file to its end and drops it.
 */
async function readFilePart(stream: Readable & { truncated?: boolean }, maxFileBytes: number, within: <T>(step: Promise<T>) => Promise<T>): Promise<Buffer> {
  const tooLarge = () =>
    new SpeechbridgeError('payload_too_large', `the uploaded file is larger than the limit of ${maxFileBytes} bytes (MAX_UPLOAD_MB)`, {
      status: 413,
      param: 'file',
    });
  let onLimit = () => {};
  const cut = new Promise<never>((_resolve, reject) => (onLimit = () => reject(tooLarge())));
  cut.catch(() => {});
  stream.once('limit', onLimit);
  const chunks: Buffer[] = [];
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  try {
    for (let next = await within(Promise.race([iterator.next(), cut])); !next.done; next = await within(Promise.race([iterator.next(), cut]))) {
      if (stream.truncated) throw tooLarge();
      chunks.push(next.value);
    }
  } finally {
    stream.off('limit', onLimit);
  }
  if (stream.truncated) throw tooLarge();
  return Buffer.concat(chunks);
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
