/**
 * A `fetch` whose response bodies stop at a byte limit, for the `openai` SDK's `fetch` option:
 * the SDK reads whole JSON bodies (transcriptions) and SSE lines (chat streams) into memory,
 * so the bound has to sit below it. A body that declares a larger Content-Length is refused
 * before any of it is read; a body that grows past the limit fails at the chunk that passes it.
 * Either way the response body is cancelled, which aborts the HTTP request and closes its
 * socket, and whoever reads the body gets the error from `tooLarge`.
 */

export interface BodyLimit {
  maxBytes: number;
  /** The error a reader gets. */
  tooLarge: () => Error;
}

/** Statuses whose responses carry no body (the Response constructor refuses one). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

export function boundedFetch(limit: BodyLimit, inner: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    const response = await inner(input, init);
    if (!response.body || NULL_BODY_STATUSES.has(response.status)) return response;
    const declared = Number(response.headers.get('content-length'));
    const body = Number.isFinite(declared) && declared > limit.maxBytes ? refused(response.body, limit.tooLarge()) : counted(response.body, limit);
    const bounded = new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
    // The SDK names the URL in its debug logs; a constructed Response has none of its own.
    Object.defineProperty(bounded, 'url', { value: response.url });
    return bounded;
  };
}

/** The body, passed through until it grows past the limit; then an error, and the source cancelled. */
function counted(source: ReadableStream<Uint8Array>, limit: BodyLimit): ReadableStream<Uint8Array> {
  let received = 0;
  // pipeThrough cancels the source when the transform fails or the reader cancels: the request is aborted.
  return source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        received += chunk.byteLength;
        if (received > limit.maxBytes) controller.error(limit.tooLarge());
        else controller.enqueue(chunk);
      },
    }),
  );
}

/** A body that fails at once, its source cancelled unread. */
function refused(source: ReadableStream<Uint8Array>, error: Error): ReadableStream<Uint8Array> {
  source.cancel(error).catch(() => {});
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.error(error);
    },
  });
}
