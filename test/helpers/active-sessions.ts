import type { DoorName } from '../../src/protocols/door-metrics.ts';

/** A server's live sessions on one door, as its /metrics reports them (speechbridge_sessions_active). */
export async function activeSessions(baseUrl: string, token: string, door: DoorName): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
  const match = new RegExp(`^speechbridge_sessions_active\\{door="${door}"\\} (\\d+)$`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}
