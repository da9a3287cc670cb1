import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';
import {
  fleetQueue,
  liveVmsOf,
  neverOverlapping,
  outcomesOf,
  postRun,
  vmsOf,
  waitUntilQuiet,
} from '../helpers/runs.js';

describe('one worker per session run, in one process', () => {
  let fleet: TestFleet;
  let queue: Queue;
  const run = (sessionId: string, webhookId?: string) =>
    postRun(fleet.ingress.url, fleet.secrets.signingKey, sessionId, webhookId);

  beforeAll(async () => {
    fleet = await startTestFleet({ LOG_LEVEL: 'warn' });
    queue = fleetQueue(fleet);
  });
  afterAll(async () => {
    await queue.close();
    await fleet.close();
  });

  it('turns 20 run-started events for one session within 100 ms into one VM', async () => {
    // A slow create keeps the first spawn active while the rest arrive.
    fleet.fake.injectFault({ method: 'POST', path: '/v1/vms', delayMs: 300, times: 1 });
    const answers = await Promise.all(Array.from({ length: 20 }, () => run('sesn_burst')));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));

    await waitUntilQuiet(queue);
    expect(vmsOf(fleet.fake.vms(), 'sesn_burst')).toHaveLength(1);
    const outcomes = await outcomesOf(queue, 'sesn_burst');
    expect(outcomes.filter((o) => o === 'spawned')).toHaveLength(1);
    expect(outcomes.every((o) => o === 'spawned' || o === 'covered')).toBe(true);
  });

  it('keeps a run that arrives while the spawn is in progress, as a follow-up job', async () => {
    fleet.fake.injectFault({ method: 'POST', path: '/v1/vms', delayMs: 400, times: 1 });
    expect((await run('sesn_during')).status).toBe(200);
    await expect.poll(async () => (await queue.getActiveCount()) > 0).toBe(true);
    expect((await run('sesn_during')).status).toBe(200);

    await waitUntilQuiet(queue);
    expect(await outcomesOf(queue, 'sesn_during')).toEqual(['covered', 'spawned']);
    expect(vmsOf(fleet.fake.vms(), 'sesn_during')).toHaveLength(1);
  });

  it('gives each run after the worker exited a fresh VM, never two alive at once', async () => {
    const session = 'sesn_five_runs';
    for (let runNumber = 1; runNumber <= 5; runNumber++) {
      expect((await run(session)).status).toBe(200);
      await waitUntilQuiet(queue);
      const vms = vmsOf(fleet.fake.vms(), session);
      expect(vms).toHaveLength(runNumber);
      expect(liveVmsOf(fleet.fake.vms(), session)).toHaveLength(1);

      // A second run while the worker lives needs no VM.
      expect((await run(session)).status).toBe(200);
      await waitUntilQuiet(queue);
      expect(vmsOf(fleet.fake.vms(), session)).toHaveLength(runNumber);

      fleet.fake.exitVm(vms.at(-1)!.vm_id);
    }
    expect(neverOverlapping(vmsOf(fleet.fake.vms(), session))).toBe(true);
  });

  it.each([
    ['made only of digits', '123'],
    ['with one colon', 'sesn:01colon'],
    ['with two colons', 'sesn:01:two'],
    ['300 characters long', `sesn_${'x'.repeat(295)}`],
    ['with non-ASCII characters', 'sesn_ünïcødé_会话_🚀'],
  ])('handles a session id %s: one VM and a 200', async (_what, sessionId) => {
    const response = await run(sessionId);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true, scheduled: sessionId });
    await waitUntilQuiet(queue);
    const vms = vmsOf(fleet.fake.vms(), sessionId);
    expect(vms).toHaveLength(1);
    expect(vms[0]?.env.ANTHROPIC_SESSION_ID).toBe(sessionId);
  });
});
