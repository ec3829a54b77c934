/** A server's /metrics as samples (`name{labels}` → value), and the per-worker session counts of `serve --workers`. */
import assert from 'node:assert/strict';

export async function metricSamples(baseUrl: string): Promise<Map<string, number>> {
  const response = await fetch(`${baseUrl}/metrics`);
  assert.equal(response.status, 200);
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    const match = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (match) samples.set(match[1], Number(match[2]));
  }
  return samples;
}

/** Open sessions per worker process id, from speechbridge_worker_sessions_active{worker,pid}. */
export async function sessionsByPid(baseUrl: string): Promise<Map<number, number>> {
  const byPid = new Map<number, number>();
  for (const [name, value] of await metricSamples(baseUrl)) {
    const match = /^speechbridge_worker_sessions_active\{worker="\d+",pid="(\d+)"\}$/.exec(name);
    if (match) byPid.set(Number(match[1]), value);
  }
  return byPid;
}
