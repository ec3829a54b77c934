/**
 * What the scripted fakes share: picking the scripted value for a call, injected failures,
 * abortable waits and the per-call record (was it aborted, did it finish).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { throwIfAborted } from '../../errors/abort.ts';
import { SpeechbridgeError, type ErrorCode } from '../../errors/registry.ts';

/** A value per call: one for all, a list used in order (its last entry repeats), or a function. */
export type Scripted<T, Context> = T | readonly T[] | ((context: Context, callIndex: number) => T);

export function pickScripted<T, Context>(script: Scripted<T, Context>, context: Context, callIndex: number): T {
  if (typeof script === 'function') return (script as (context: Context, callIndex: number) => T)(context, callIndex);
  if (Array.isArray(script)) {
    if (script.length === 0) throw new Error('a scripted list needs at least one entry');
    return script[Math.min(callIndex, script.length - 1)];
  }
  return script as T;
}

export interface InjectedFailure {
  code: ErrorCode;
  message?: string;
  /** The 1-based call that fails; absent: every call fails. */
  onCall?: number;
}

/** The error to throw on call `callNumber` (1-based), or undefined when it should succeed. */
export function injectedError(failure: InjectedFailure | undefined, callNumber: number, what: string): SpeechbridgeError | undefined {
  if (!failure) return undefined;
  if (failure.onCall !== undefined && failure.onCall !== callNumber) return undefined;
  return new SpeechbridgeError(failure.code, failure.message ?? `injected ${failure.code} on ${what} call ${callNumber}`);
}

/** Waits `ms`, rejecting with an AbortError as soon as the signal fires. */
export async function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  throwIfAborted(signal);
  if (ms > 0) await sleep(ms, undefined, signal ? { signal } : undefined);
}

export interface CallRecord {
  /** The call's signal fired before the call ended. */
  aborted: boolean;
  /** The call ran to its scripted end. */
  completed: boolean;
  /** The injected failure it ended with. */
  failedWith?: ErrorCode;
}

/** Marks `record.aborted` when the signal fires during the call; returns the unsubscribe. */
export function watchAbort(record: CallRecord, signal: AbortSignal | undefined): () => void {
  if (!signal) return () => {};
  if (signal.aborted) {
    record.aborted = true;
    return () => {};
  }
  const onAbort = () => {
    if (!record.completed) record.aborted = true;
  };
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}
