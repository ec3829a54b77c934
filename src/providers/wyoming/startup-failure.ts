/**
 * A failed start-up check of a Wyoming server, said so the operator knows what to fix: the
 * variable that holds the address first, then what went wrong, then what to do about it.
 */
import { SpeechbridgeError } from '../../errors/registry.ts';
import { type DescribeOptions, describeWyomingServer } from './describe.ts';
import type { WyomingInfo } from './messages.ts';

export interface StartupContext {
  /** "speech recognition" or "speech synthesis". */
  role: string;
  /** The variable that holds the address, e.g. WYOMING_ASR_URI. */
  setting: string;
  /** A server of that kind and its usual port, e.g. "wyoming-faster-whisper, port 10300". */
  example: string;
}

export function startupFailure(error: unknown, context: StartupContext): unknown {
  if (!(error instanceof SpeechbridgeError)) return error;
  const { role, setting, example } = context;
  const hints: Partial<Record<string, string>> = {
    upstream_unreachable: `start the server, or fix ${setting}`,
    upstream_timeout: `check that ${setting} names a Wyoming ${role} server (${example}) and that it is up, or raise REQUEST_TIMEOUT`,
    upstream_bad_response: `check that ${setting} names a Wyoming ${role} server (${example}), not another service`,
    upstream_error: `the server itself failed: its log says why`,
  };
  const hint = hints[error.code] ?? `check ${setting}`;
  return new SpeechbridgeError(error.code, `${setting}: ${error.message}; ${hint}`, { cause: error });
}

/** describe → info at start-up, a failure said as startupFailure says it. */
export async function describeAtStartup(options: Omit<DescribeOptions, 'role'>, context: StartupContext): Promise<WyomingInfo> {
  try {
    return await describeWyomingServer({ ...options, role: context.role });
  } catch (error) {
    throw startupFailure(error, context);
  }
}
