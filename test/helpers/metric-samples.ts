/**
 * A server's /metrics as samples (`name{labels}` → value), and what tests read from them: the
 * live sessions on one door, and the per-worker session counts of `serve --workers`.
 */
import assert from 'node:assert/strict';
import type { DoorName } from '../../src/protocols/door-metrics.ts';

/** `token`: for a server with API_TOKENS (and /metrics not public). */
export async function metricSamples(baseUrl: string, token?: string): Promise<Map<string, number>> {
  const response = await fetch(`${baseUrl}/metrics`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200);
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    const match = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (match) samples.set(match[1], Number(match[2]));
  }
  return samples;
}

/** Live sessions on one door (speechbridge_sessions_active). */
export async function activeSessions(baseUrl: string, token: string, door: DoorName): Promise<number> {
  return (await metricSamples(baseUrl, token)).get(`speechbridge_sessions_active{door="${door}"}`) ?? 0;
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
