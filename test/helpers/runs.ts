import { randomUUID } from 'node:crypto';
import type { FakeVm } from '@cma-fleet/fake-instavm';
import { queuePrefix, SPAWN_QUEUE } from '@cma-fleet/shared';
import { Queue } from 'bullmq';
import { expect } from 'vitest';
import type { TestFleet } from './fleet.js';
import { runStartedEvent, signedHeaders } from './sign.js';

/** Posts a signed run-started delivery to an ingress URL. */
export async function postRun(
  ingressUrl: string,
  signingKey: string,
  sessionId: string,
  webhookId = `whe_${randomUUID()}`,
): Promise<Response> {
  const body = runStartedEvent(webhookId, sessionId);
  return fetch(`${ingressUrl}/webhook`, {
    method: 'POST',
    headers: signedHeaders(signingKey, webhookId, body),
    body,
  });
}

/** Every VM the fake made for a session, in creation order. */
export function vmsOf(vms: FakeVm[], sessionId: string): FakeVm[] {
  return vms.filter((vm) => vm.metadata.session_id === sessionId);
}

export function liveVmsOf(vms: FakeVm[], sessionId: string): FakeVm[] {
  return vmsOf(vms, sessionId).filter((vm) => vm.status === 'running');
}

/** A handle on the fleet's spawn queue, for counting jobs. */
export function spawnQueue(redisUrl: string, keyPrefix: string): Queue {
  return new Queue(SPAWN_QUEUE, { connection: { url: redisUrl }, prefix: queuePrefix(keyPrefix) });
}

/** Waits until no spawn job waits, runs or is scheduled for a retry. */
export async function waitUntilQuiet(queue: Queue, timeout = 20_000): Promise<void> {
  await expect
    .poll(
      async () => {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        return Object.values(counts).reduce((sum, n) => sum + n, 0);
      },
      { timeout, interval: 50 },
    )
    .toBe(0);
}

/** The outcomes (spawned, adopted, covered) of every completed spawn job for a session. */
export async function outcomesOf(queue: Queue, sessionId: string): Promise<string[]> {
  const jobs = await queue.getJobs(['completed']);
  return jobs
    .filter((job) => job.data.sessionId === sessionId)
    .map((job) => (job.returnvalue as { outcome: string }).outcome)
    .sort();
}

/** True when no two of the VMs were alive at the same time. */
export function neverOverlapping(vms: FakeVm[]): boolean {
  const spans = vms
    .map((vm) => ({
      from: Date.parse(vm.created_at),
      to: vm.ended_at ? Date.parse(vm.ended_at) : Infinity,
    }))
    .sort((a, b) => a.from - b.from);
  return spans.every((span, i) => i === 0 || span.from >= (spans[i - 1]?.to ?? 0));
}

export function fleetQueue(fleet: TestFleet): Queue {
  return spawnQueue(fleet.redis.url, fleet.env.REDIS_KEY_PREFIX ?? 'cma');
}
