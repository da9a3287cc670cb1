import type { TestFleet } from './fleet.js';

/** A request to the fleet's admin port with the operator token, as an operator's tool sends it. */
export function adminFetch(fleet: TestFleet, path: string, init: RequestInit = {}) {
  const base = fleet.ingress.adminUrl;
  if (!base) throw new Error('this fleet has no admin port (ADMIN_TOKEN unset)');
  return fetch(`${base}${path}`, {
    ...init,
    headers: { ...init.headers, authorization: `Bearer ${fleet.secrets.adminToken}` },
  });
}

/** The admin API path for a session action; session ids may hold any character. */
export function sessionPath(sessionId: string, action: 'stop' | 'respawn'): string {
  return `/admin/sessions/${encodeURIComponent(sessionId)}/${action}`;
}
