/**
 * Deliberate aborts. A call whose AbortSignal fires ends with an AbortError, which callers tell
 * apart from a failure with isAbortError and never log as an error. One definition here, so
 * every layer makes and recognises the same error.
 */

const ABORTED = 'The operation was aborted';

/** The error a deliberate abort ends a call with; `cause` carries the signal's reason when given. */
export function abortError(cause?: unknown, message = ABORTED): Error {
  const error = new Error(message, cause === undefined ? undefined : { cause });
  error.name = 'AbortError';
  return error;
}

/** True for our AbortError, Node's (`ABORT_ERR`) and the openai SDK's APIUserAbortError. */
export function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || (error as { code?: string }).code === 'ABORT_ERR' || error.name === 'APIUserAbortError');
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError();
}

/**
 * The promise's value, or, as soon as the signal fires, a rejection with `abortedWith(reason)`:
 * an AbortError unless the caller wants the signal's reason itself (a TimeoutError to report).
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal, abortedWith: (reason: unknown) => unknown = () => abortError()): Promise<T> {
  if (signal.aborted) return Promise.reject(abortedWith(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedWith(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
