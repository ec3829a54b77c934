/**
 * A reader that goes away (`speechbridge stream … --json | head -1`) makes the next write to
 * stdout fail with EPIPE, an 'error' event that would end the process with a stack trace. Here
 * it ends the session instead, quietly, as a Unix tool ends on SIGPIPE.
 */

/** Exit status of a program ended by SIGPIPE (128 + 13), what a shell reports for one. */
export const STDOUT_CLOSED_EXIT_CODE = 141;

/**
 * Calls `onClosed` once when stdout can no longer be written. The listener stays for the life
 * of the process: the failed write that reveals the closed pipe may be the summary's, after
 * the session has ended.
 */
export function onStdoutClosed(onClosed: () => void): void {
  let closed = false;
  process.stdout.on('error', () => {
    if (closed) return;
    closed = true;
    onClosed();
  });
}
