import { operatorCliEnv, parseEnv } from '@cma-fleet/shared';
import { readDevEnv } from './dev-env.js';

/** How the CLI reaches the ingress's admin port: ADMIN_URL, or ADMIN_HOST:ADMIN_PORT. */
export interface AdminClientSettings {
  adminUrl: string;
  token: string;
}

export function adminClientSettings(env: Record<string, string | undefined>): AdminClientSettings {
  // A fleet from `pnpm start` keeps its development token in .fleet/dev.env.
  const token = env.ADMIN_TOKEN?.trim() || readDevEnv().ADMIN_TOKEN;
  if (!token) throw new Error('set ADMIN_TOKEN (the operator token the ingress was started with)');
  const host =
    env.ADMIN_HOST?.trim() && env.ADMIN_HOST !== '0.0.0.0' ? env.ADMIN_HOST : '127.0.0.1';
  const configured = parseEnv(operatorCliEnv, env).ADMIN_URL;
  const adminUrl = configured ?? `http://${host}:${env.ADMIN_PORT?.trim() || '8001'}`;
  return { adminUrl: adminUrl.replace(/\/+$/, ''), token };
}

/** INGRESS_URL, checked; undefined when unset. */
export function ingressUrlFrom(env: Record<string, string | undefined>): string | undefined {
  return parseEnv(operatorCliEnv, env).INGRESS_URL;
}

/** A call to the admin API; throws with the status and body on anything but 2xx. */
export async function adminCall(
  settings: AdminClientSettings,
  method: 'GET' | 'POST',
  path: string,
): Promise<unknown> {
  const response = await fetch(`${settings.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${settings.token}`, accept: 'application/json' },
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} → ${response.status} ${text}`);
  return JSON.parse(text) as unknown;
}

/** The admin API path for a session action; session ids may hold any character. */
export function sessionPath(sessionId: string, action: 'stop' | 'respawn'): string {
  return `/admin/sessions/${encodeURIComponent(sessionId)}/${action}`;
}
