import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/lib/processes.js';
import { deliverRun, POLL } from '../helpers/admin.js';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';
import { fleetQueue, waitUntilQuiet } from '../helpers/runs.js';

/** Debian's `chromium` package (.ci/run installs it); no browser is ever downloaded. */
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test-artifacts');
const skip = !existsSync(CHROMIUM);
if (skip) console.warn(`SKIPPED browser test: ${CHROMIUM} is missing (apt-get install chromium)`);

/** A fresh headless Chromium profile, with or without the operator's basic-auth credentials. */
async function browserContext(profile: string, token?: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    ...(token ? { httpCredentials: { username: 'operator', password: token } } : {}),
  });
}

/** Saves a screenshot as a test artefact; UPDATE_DOCS_IMAGES=1 also refreshes the README's. */
async function screenshot(page: Page, file: string): Promise<void> {
  const path = join(ARTIFACTS, file);
  await page.screenshot({ path, fullPage: true });
  if (process.env.UPDATE_DOCS_IMAGES === '1') {
    mkdirSync(join(ROOT, 'docs/images'), { recursive: true });
    copyFileSync(path, join(ROOT, 'docs/images', file));
  }
}

describe.skipIf(skip)('the dashboard in a real browser', () => {
  let fleet: TestFleet;
  const profiles: string[] = [];
  const profile = () => {
    const dir = mkdtempSync(join(tmpdir(), 'cma-chromium-'));
    profiles.push(dir);
    return dir;
  };

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    fleet = await startTestFleet();
  });
  afterAll(async () => {
    await fleet?.close();
    for (const dir of profiles) rmSync(dir, { recursive: true, force: true });
  });

  it('shows the spawn queue and a completed job to an operator with the token', async () => {
    // A run that succeeds, and one the provider refuses for good: the page shows both.
    for (const session of ['sesn_01BrowserOne', 'sesn_01BrowserTwo']) {
      await deliverRun(fleet, session);
    }
    const queue = fleetQueue(fleet);
    await waitUntilQuiet(queue);
    fleet.fake.injectFault({ method: 'POST', path: '/v1/vms', status: 422, times: 1 });
    await deliverRun(fleet, 'sesn_01BrowserRefused');
    await expect.poll(() => queue.getJobCountByTypes('failed'), POLL).toBe(1);
    await queue.close();
    const context = await browserContext(profile(), fleet.secrets.adminToken);
    try {
      const page = await context.newPage();
      const board = await page.goto(`${fleet.ingress.adminUrl}/admin/queues`);
      expect(board?.status()).toBe(200);
      await expect
        .poll(() => page.getByText('cma-spawn').count(), { timeout: 15_000 })
        .toBeGreaterThan(0);

      await page.goto(`${fleet.ingress.adminUrl}/admin/queues/queue/cma-spawn?status=completed`);
      await expect
        .poll(() => page.getByText('spawn-worker').count(), { timeout: 15_000 })
        .toBeGreaterThan(0);
      await expect.poll(() => page.getByText('sesn_01BrowserOne').count(), POLL).toBeGreaterThan(0);
      await screenshot(page, 'dashboard.png');

      const status = await page.goto(`${fleet.ingress.adminUrl}/`);
      expect(status?.status()).toBe(200);
      await expect.poll(() => page.getByText('Live workers (2)').count(), POLL).toBe(1);
      await expect
        .poll(() => page.getByText('sesn_01BrowserRefused').count(), POLL)
        .toBeGreaterThan(0);
      await screenshot(page, 'status-page.png');
    } finally {
      await context.close();
    }
  });

  it('gives a browser without the token 401, and no dashboard asset or data', async () => {
    const context = await browserContext(profile());
    try {
      const page = await context.newPage();
      for (const path of ['/admin/queues', '/admin/queues/api/queues', '/', '/workers']) {
        const url = `${fleet.ingress.adminUrl}${path}`;
        // Chromium answers a 401 it has no credentials for with an auth error page.
        const seen = page.waitForResponse((response) => response.url() === url);
        await page.goto(url).catch(() => undefined);
        expect((await seen).status(), path).toBe(401);
        const direct = await context.request.get(url);
        expect(direct.status(), path).toBe(401);
        const body = await direct.text();
        expect(body).not.toContain('sesn_01Browser');
        expect(body).not.toContain('<script');
      }
      // The dashboard's own scripts and styles, as an authorised page loads them.
      const authorised = await fetch(`${fleet.ingress.adminUrl}/admin/queues`, {
        headers: { authorization: `Bearer ${fleet.secrets.adminToken}` },
      });
      const html = await authorised.text();
      const assets = [...html.matchAll(/(?:src|href)="([^"]+\.(?:js|css))"/g)].map((m) => m[1]);
      expect(assets.length).toBeGreaterThan(0);
      for (const asset of assets) {
        const url = new URL(asset ?? '', `${fleet.ingress.adminUrl}/admin/queues/`);
        const response = await context.request.get(url.toString());
        expect(response.status(), url.pathname).toBe(401);
      }
    } finally {
      await context.close();
    }
  });
});
