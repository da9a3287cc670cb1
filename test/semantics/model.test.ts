import type { FakeVm } from '@cma-fleet/fake-instavm';
import type { Queue } from 'bullmq';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFleet, type TestFleet } from '../helpers/fleet.js';
import { fleetQueue, neverOverlapping, postRun, vmsOf, waitUntilQuiet } from '../helpers/runs.js';

type Action =
  | { kind: 'deliver'; session: number; retry: boolean }
  | { kind: 'exit'; session: number }
  | { kind: 'crash-mid-create'; session: number }
  | { kind: 'slow-create'; ms: number }
  | { kind: 'settle' };

const SESSIONS = 3;
const session = fc.integer({ min: 0, max: SESSIONS - 1 });
const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant('deliver' as const), session, retry: fc.boolean() }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('exit' as const), session }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('crash-mid-create' as const), session }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('slow-create' as const),
      ms: fc.integer({ min: 50, max: 300 }),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'settle' as const }) },
);

/** A run the ingress accepted (not a duplicate), and when. */
interface AcceptedRun {
  sessionId: string;
  at: number;
}

/** A VM ran a worker: the start command reached it. */
const startedWorker = (vm: FakeVm) => vm.executions.some((e) => e.command.includes('beta:worker'));

describe('a model of deliveries, duplicates, worker exits and spawner crashes', () => {
  let fleet: TestFleet;
  let queue: Queue;
  let round = 0;

  beforeAll(async () => {
    fleet = await startTestFleet({ LOG_LEVEL: 'silent', SPAWNER_LOCK_MS: '1000' });
    fleet.addSpawner();
    queue = fleetQueue(fleet);
  });
  afterAll(async () => {
    await queue.close();
    await fleet.close();
  });

  /**
   * Every spawner dies while the provider is still creating a VM (which it then finishes):
   * the job's retry must adopt that VM, not make a second.
   */
  async function crashDuringCreate(sessionId: string, webhookId: string, accepted: AcceptedRun[]) {
    const creates = () =>
      fleet.fake.requests().filter((r) => r.method === 'POST' && r.path === '/v1/vms');
    const before = creates().length;
    fleet.fake.injectFault({ method: 'POST', path: '/v1/vms', delayMs: 300, times: 1 });
    const at = Date.now();
    const response = await postRun(
      fleet.ingress.url,
      fleet.secrets.signingKey,
      sessionId,
      webhookId,
    );
    if (((await response.json()) as { scheduled?: string }).scheduled)
      accepted.push({ sessionId, at });
    await expect
      .poll(() => creates().length, { timeout: 5000, interval: 10 })
      .toBeGreaterThan(before);
    const alive = fleet.spawners.filter((spawner) => !spawner.worker.closing);
    await Promise.all(alive.map((spawner) => spawner.crash()));
    fleet.addSpawner();
    fleet.addSpawner();
  }

  async function play(actions: Action[]): Promise<AcceptedRun[]> {
    round += 1;
    const name = (i: number) => `sesn_model_${round}_${i}`;
    const lastDelivery = new Map<number, string>();
    const accepted: AcceptedRun[] = [];
    let crashes = 0;
    for (const [step, act] of actions.entries()) {
      if (act.kind === 'deliver') {
        const webhookId =
          (act.retry && lastDelivery.get(act.session)) || `whe_model_${round}_${step}`;
        lastDelivery.set(act.session, webhookId);
        const at = Date.now();
        const response = await postRun(
          fleet.ingress.url,
          fleet.secrets.signingKey,
          name(act.session),
          webhookId,
        );
        expect(response.status).toBe(200);
        const answer = (await response.json()) as { scheduled?: string };
        if (answer.scheduled) accepted.push({ sessionId: name(act.session), at });
      } else if (act.kind === 'exit') {
        // Only a VM whose worker started can exit on idle.
        const live = vmsOf(fleet.fake.vms(), name(act.session)).filter(
          (vm) => vm.status === 'running' && startedWorker(vm),
        );
        for (const vm of live) fleet.fake.exitVm(vm.vm_id);
      } else if (act.kind === 'crash-mid-create' && crashes < 1) {
        crashes += 1;
        // A session of its own, so the run surely needs a create (no live worker covers it).
        await crashDuringCreate(
          `${name(act.session)}_crash`,
          `whe_model_${round}_${step}`,
          accepted,
        );
      } else if (act.kind === 'slow-create') {
        fleet.fake.injectFault({ method: 'POST', path: '/v1/vms', delayMs: act.ms, times: 1 });
      } else if (act.kind === 'settle') {
        await waitUntilQuiet(queue);
      }
    }
    await waitUntilQuiet(queue);
    fleet.fake.clearFaults();
    return accepted;
  }

  it('never gives a session two live VMs, and gives every run after a worker ended a worker', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 10 }), async (actions) => {
        const accepted = await play(actions);
        const vms = fleet.fake.vms();
        for (const sessionId of new Set(accepted.map((run) => run.sessionId))) {
          expect(neverOverlapping(vmsOf(vms, sessionId))).toBe(true);
        }
        for (const run of accepted) {
          const served = vmsOf(vms, run.sessionId).some(
            (vm) => startedWorker(vm) && (!vm.ended_at || Date.parse(vm.ended_at) >= run.at),
          );
          expect(served, `run of ${run.sessionId} at ${run.at} got no worker`).toBe(true);
        }
      }),
      { numRuns: 15, endOnFailure: true },
    );
  }, 240_000);
});
