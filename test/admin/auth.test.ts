import { loadIngressConfig, type RunningIngress, startIngress } from '@cma-fleet/ingress';
import { carriesAdminToken, createLogger } from '@cma-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, sessionPath } from '../helpers/admin.js';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';

const TOKEN = 'a'.repeat(16) + 'b'.repeat(16);
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('carriesAdminToken', () => {
  it.each([
    ['a bearer token', `Bearer ${TOKEN}`, true],
    ['a bearer token, scheme in lower case', `bearer ${TOKEN}`, true],
    ['basic auth with the token as password, any user', basic('operator', TOKEN), true],
    ['basic auth with an empty user', basic('', TOKEN), true],
    ['no header', undefined, false],
    ['a wrong bearer token', `Bearer ${TOKEN}x`, false],
    ['the token as the basic user name', basic(TOKEN, ''), false],
    ['the token without a scheme', TOKEN, false],
    ['another scheme', `Token ${TOKEN}`, false],
  ])('%s → %s', (_name, header, expected) => {
    expect(carriesAdminToken(header, TOKEN)).toBe(expected);
  });
});

/** Every admin route, as an operator's tool would call it. */
const ADMIN_ROUTES: Array<[method: string, path: string]> = [
  ['GET', '/'],
  ['GET', '/workers'],
  ['GET', '/metrics'],
  ['GET', '/admin/queues'],
  ['GET', '/admin/queues/api/queues'],
  ['GET', '/admin/queues/static/js/main.js'],
  ['POST', sessionPath('sesn_x', 'stop')],
  ['POST', sessionPath('sesn_x', 'respawn')],
];

describe('the operator view with ADMIN_TOKEN set', () => {
  let fleet: TestFleet;
  beforeAll(async () => {
    fleet = await startTestFleet();
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it.each(ADMIN_ROUTES)(
    'refuses %s %s without the token with 401 and no data',
    async (method, path) => {
      const response = await fetch(`${fleet.ingress.adminUrl}${path}`, { method });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
      const body = await response.text();
      expect(body).not.toContain('sesn_');
      expect(body).not.toContain('cma-spawn');
    },
  );

  it('refuses a wrong token, and accepts it as bearer or as the basic-auth password', async () => {
    const url = `${fleet.ingress.adminUrl}/workers`;
    const wrong = await fetch(url, { headers: { authorization: `Bearer ${'x'.repeat(48)}` } });
    expect(wrong.status).toBe(401);
    expect((await adminFetch(fleet, '/workers')).status).toBe(200);
    const browser = await fetch(url, {
      headers: { authorization: basic('anyone', fleet.secrets.adminToken) },
    });
    expect(browser.status).toBe(200);
    expect(await browser.json()).toEqual({ workers: [] });
  });

  it('serves only the webhook and the health check on the public port', async () => {
    for (const [method, path] of ADMIN_ROUTES) {
      const response = await fetch(`${fleet.ingress.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${fleet.secrets.adminToken}` },
      });
      expect([404], `${method} ${path}`).toContain(response.status);
    }
    expect((await fetch(`${fleet.ingress.url}/health`)).status).toBe(200);
  });
});

describe('the operator view with no ADMIN_TOKEN', () => {
  let redis: TestRedis;
  let ingress: RunningIngress;
  beforeAll(async () => {
    redis = await startTestRedis();
    const config = loadIngressConfig({ REDIS_URL: redis.url, PORT: '0', HOST: '127.0.0.1' });
    ingress = await startIngress(config, createLogger({ name: 'test', level: 'silent' }));
  });
  afterAll(async () => {
    await ingress?.close();
    await redis?.close();
  });

  it('opens no admin port and never serves fleet data', async () => {
    expect(ingress.adminUrl).toBeUndefined();
    for (const [method, path] of ADMIN_ROUTES.filter(([, path]) => path !== '/')) {
      const response = await fetch(`${ingress.url}${path}`, { method });
      expect([403, 404], `${method} ${path}`).toContain(response.status);
      expect(await response.text()).not.toContain('workers"');
    }
  });

  it('answers the status page with 403 and how to turn the operator view on', async () => {
    const response = await fetch(`${ingress.url}/`, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(403);
    const page = await response.text();
    expect(page).toContain('ADMIN_TOKEN is not set');
    expect(page).toContain('openssl rand -hex 32');
  });

  it('refuses to start with a token too short to be safe, naming the variable', () => {
    expect(() => loadIngressConfig({ REDIS_URL: redis.url, ADMIN_TOKEN: 'short' })).toThrow(
      /ADMIN_TOKEN: must be at least 24 characters/,
    );
  });
});
