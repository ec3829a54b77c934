/**
 * What the command line prints when a command fails: one line saying what is wrong and what
 * to do, and an exit code (2 for a bad flag, a bad setting or an input file that cannot be
 * read, 1 for everything else). No stack trace unless LOG_LEVEL is debug or trace.
 */
import { SpeechbridgeError } from '../errors/registry.ts';

export const USAGE_EXIT_CODE = 2;
export const FAILURE_EXIT_CODE = 1;

export interface CliFailure {
  message: string;
  exitCode: number;
}

type SystemError = Error & { code?: string; syscall?: string; path?: string; address?: string; port?: number };

/** The one-line description and exit code of anything a command throws. */
export function describeCliError(error: unknown): CliFailure {
  if (error instanceof SpeechbridgeError) {
    return { message: error.message, exitCode: error.category === 'invalid_request' ? USAGE_EXIT_CODE : FAILURE_EXIT_CODE };
  }
  const system = error as SystemError;
  if (system?.syscall === 'listen') return { message: describeListenError(system), exitCode: FAILURE_EXIT_CODE };
  if (
    system?.path &&
    (system.code === 'ENOENT' || system.code === 'EACCES' || system.code === 'EISDIR' || system.code === 'ENOTDIR' || system.code === 'EPERM')
  ) {
    return { message: `cannot open ${system.path}: ${FILE_PROBLEMS[system.code]}`, exitCode: USAGE_EXIT_CODE };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { message: message.split('\n')[0], exitCode: FAILURE_EXIT_CODE };
}

const FILE_PROBLEMS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  ENOTDIR: 'no such file (a part of the path is not a folder)',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a folder, not a file',
};

function describeListenError(error: SystemError): string {
  const where = error.port === undefined ? 'the address' : `port ${error.port}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return `${where} is already in use${error.address ? ` on ${error.address}` : ''}: stop the program listening there, or pick another port with --port (SERVER_PORT)`;
    case 'EACCES':
      return `no permission to listen on ${where}: ports below 1024 need root; pick another with --port (SERVER_PORT)`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${error.address ?? 'that address'}: it is not an address of this machine; check --host (SERVER_NAME)`;
    default:
      return `cannot listen on ${where}: ${error.message}`;
  }
}

/** A stack is shown only to someone who asked for detail. */
export function wantsStack(): boolean {
  return process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace';
}
