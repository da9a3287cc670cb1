import { afterEach, describe, expect, it } from 'vitest';
import { adminFetch, deliverRun, POLL, sessionPath } from '../helpers/admin.js';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';
import { fleetQueue, postRun, waitUntilQuiet } from '../helpers/runs.js';

interface LogLine {
  level: number;
  msg: string;
  name: string;
  webhook_id?: string;
  session_id?: string;
  job_id?: string;
  outcome?: string;
  attempt?: string;
}

const INFO = 30;
const WARN = 40;

function parsed(fleet: TestFleet): LogLine[] {
  return fleet.logs
    .join('')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as LogLine);
}

describe('logs of deliveries and provisions', () => {
  let fleet: TestFleet;
  afterEach(async () => {
    await fleet?.close();
  });

  it('hold no secret, and one delivery’s lines share its webhook-id', async () => {
    fleet = await startTestFleet();
    // The first create fails once: a retried provision logs a warning too.
    fleet.fake.injectFault({ method: 'POST', path: '/v1/vms', status: 502, times: 1 });
    await Promise.all([
      deliverRun(fleet, 'sesn_logs_a', 'whe_logs_a'),
      deliverRun(fleet, 'sesn_logs_b', 'whe_logs_b'),
    ]);
    const copy = await postRun(
      fleet.ingress.url,
      fleet.secrets.signingKey,
      'sesn_logs_a',
      'whe_logs_a',
    );
    expect(await copy.json()).toEqual({ ok: true, duplicate: true });
    const queue = fleetQueue(fleet);
    await waitUntilQuiet(queue);
    await queue.close();
    await adminFetch(fleet, sessionPath('sesn_logs_b', 'stop'), { method: 'POST' });
    await expect
      .poll(() => parsed(fleet).some((l) => l.msg === 'worker stopped by operator'), POLL)
      .toBe(true);

    const text = fleet.logs.join('');
    for (const secret of Object.values(fleet.secrets)) {
      expect(text).not.toContain(secret.replace(/^whsec_/, ''));
    }

    const lines = parsed(fleet);
    for (const [sessionId, webhookId] of [
      ['sesn_logs_a', 'whe_logs_a'],
      ['sesn_logs_b', 'whe_logs_b'],
    ]) {
      const ofDelivery = lines.filter((l) => l.webhook_id === webhookId);
      const messages = new Set(ofDelivery.map((l) => l.msg));
      expect(messages).toContain('delivery');
      expect(messages).toContain('provision attempt started');
      expect(messages).toContain('provision finished');
      expect(new Set(ofDelivery.map((l) => l.name))).toEqual(new Set(['ingress', 'spawner']));
      // Every spawner line of this session's spawn job carries the delivery's id.
      const ofJob = lines.filter(
        (l) => l.name === 'spawner' && l.session_id === sessionId && l.job_id !== undefined,
      );
      expect(ofJob.length).toBeGreaterThanOrEqual(2);
      expect(ofJob.every((l) => l.webhook_id === webhookId)).toBe(true);
    }

    const deliveries = lines.filter((l) => l.msg === 'delivery');
    // A loaded machine may have answered a copy 503 (it was then delivered again).
    const answered = deliveries.filter((l) => l.outcome !== 'unavailable');
    expect(answered.map((l) => l.outcome).sort()).toEqual(['duplicate', 'scheduled', 'scheduled']);
    expect(answered.every((l) => l.level === INFO)).toBe(true);
    const refused = deliveries.filter((l) => l.outcome === 'unavailable');
    expect(refused.every((l) => l.level === WARN)).toBe(true);
    const finished = lines.filter((l) => l.msg === 'provision finished');
    expect(finished.every((l) => l.level === INFO && /^\d+ of \d+$/.test(l.attempt ?? ''))).toBe(
      true,
    );
    const retried = lines.filter((l) => l.msg === 'provision attempt failed, will retry');
    expect(retried).toHaveLength(1);
    expect(retried[0]?.level).toBe(WARN);
  });
});
