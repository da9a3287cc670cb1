import { InstaVmHttpError, InstaVmTransportError } from '@cma-fleet/instavm';
import { backoffDelay, planRetry } from '@cma-fleet/spawner';
import { describe, expect, it } from 'vitest';

const settings = { baseMs: 1000, maxMs: 30_000 };
const http = (status: number, retryAfterMs?: number) =>
  new InstaVmHttpError('POST', '/v1/vms', status, '{"detail":"x"}', retryAfterMs);
const transport = (kind: 'timeout' | 'refused' | 'reset', requestSent: boolean) =>
  new InstaVmTransportError('POST', '/v1/vms', kind, requestSent, new Error(kind));

/** Attempt 2 with the random factor pinned at 0.5: half of 2 s fixed plus a quarter: 1.5 s. */
const BACKOFF = 1500;

describe('the retry policy, outcome by outcome', () => {
  it.each([
    // outcome, error, step, retry, delay, rate limited, provider fault, VM may exist
    [
      'connection refused',
      transport('refused', false),
      'create',
      true,
      BACKOFF,
      false,
      true,
      false,
    ],
    ['connection reset', transport('reset', true), 'create', true, BACKOFF, false, true, true],
    [
      'timeout before the request was sent',
      transport('timeout', false),
      'create',
      true,
      BACKOFF,
      false,
      true,
      false,
    ],
    [
      'timeout after the request was sent',
      transport('timeout', true),
      'create',
      true,
      BACKOFF,
      false,
      true,
      true,
    ],
    [
      'timeout on a later step',
      transport('timeout', true),
      'other',
      true,
      BACKOFF,
      false,
      true,
      false,
    ],
    ['400', http(400), 'create', false, 0, false, false, false],
    ['401', http(401), 'create', false, 0, false, false, false],
    ['403', http(403), 'create', false, 0, false, false, false],
    ['404 on create (wrong API URL)', http(404), 'create', false, 0, false, false, false],
    ['404 on a later step (VM vanished)', http(404), 'other', true, BACKOFF, false, false, false],
    ['409', http(409), 'create', true, BACKOFF, false, false, true],
    ['422', http(422), 'create', false, 0, false, false, false],
    ['429 with Retry-After: 2', http(429, 2000), 'create', true, 2000, true, false, false],
    ['429 without Retry-After', http(429), 'create', true, 5000, true, false, false],
    ['500', http(500), 'create', true, BACKOFF, false, true, true],
    ['502', http(502), 'create', true, BACKOFF, false, true, true],
    ['503', http(503), 'create', true, BACKOFF, false, true, false],
    ['504', http(504), 'create', true, BACKOFF, false, true, true],
  ] as const)(
    '%s',
    (_outcome, error, step, retry, delayMs, rateLimited, providerFault, vmMayExist) => {
      const plan = planRetry(error, step, 2, settings, () => 0.5);
      expect(plan).toMatchObject({ retry, delayMs, rateLimited, providerFault, vmMayExist });
      expect(plan.cause.length).toBeGreaterThan(0);
    },
  );

  it('names the setting to check when the key is refused', () => {
    expect(planRetry(http(401), 'create', 1, settings).cause).toContain('INSTAVM_API_KEY');
  });

  it('grows the delay exponentially up to the cap, with jitter inside [half, whole]', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, settings, () => 1))).toEqual([
      1000, 2000, 4000, 8000,
    ]);
    expect(backoffDelay(20, settings, () => 1)).toBe(30_000);
    expect(backoffDelay(3, settings, () => 0)).toBe(2000);
  });
});
