/**
 * Polls until a condition holds: `attempt` returns the awaited value, or undefined to try again
 * after `intervalMs`; past `timeoutMs` the wait fails naming `what`.
 */
export async function eventually<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs = 10_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await attempt();
    if (result !== undefined) return result;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
