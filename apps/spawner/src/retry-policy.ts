import { InstaVmHttpError, InstaVmTransportError } from '@cma-fleet/instavm';
import { SandboxUnavailableError } from './providers/local-sandbox.js';

/** The provisioning step that failed: only a create can leave a VM behind when it errs. */
export type ProvisionStep = 'create' | 'other';

export interface BackoffSettings {
  /** Delay before the first retry, in ms; doubles with each attempt. */
  baseMs: number;
  /** No delay exceeds this. */
  maxMs: number;
}

/** What to do after a failed provisioning attempt. */
export interface RetryPlan {
  /** False when retrying cannot help (bad key, invalid request): fail the job at once. */
  retry: boolean;
  /** Wait this long before the next attempt (ms). */
  delayMs: number;
  /**
   * The provider asked us to slow down (429): every replica pauses for `delayMs` and the job
   * goes back to the queue without using an attempt.
   */
  rateLimited: boolean;
  /** The provider looks unhealthy (5xx, no answer): counts towards opening the breaker. */
  providerFault: boolean;
  /** The provider may have acted although we saw an error: look the VM up before creating. */
  vmMayExist: boolean;
  /** A short cause for logs and the worker state. */
  cause: string;
}

/** Statuses that no retry can fix: the request or the credentials are wrong. */
const PERMANENT: Record<number, string> = {
  400: 'the provider rejected the request as invalid',
  401: 'the provider rejected the API key (check INSTAVM_API_KEY)',
  403: 'the API key may not do this (check the InstaVM account and INSTAVM_API_KEY)',
  422: 'the provider rejected the request body (check the WORKER_* settings)',
};

/** When a 429 carries no Retry-After, every replica pauses this long. */
export const DEFAULT_RATE_LIMIT_PAUSE_MS = 5000;

/**
 * Exponential backoff with "equal jitter": half the exponential delay fixed, half random, capped.
 * `random` is injectable so the table test can pin it.
 */
export function backoffDelay(
  attempt: number,
  settings: BackoffSettings,
  random = Math.random,
): number {
  const exponential = settings.baseMs * 2 ** Math.max(0, attempt - 1);
  const capped = Math.min(settings.maxMs, exponential);
  return Math.round(capped / 2 + (capped / 2) * random());
}

/**
 * Whether, when and how to retry after a provisioning step failed on its `attempt`-th attempt.
 * Pure, so it reads as a table (see its test) and is tuned in one place.
 */
export function planRetry(
  error: unknown,
  step: ProvisionStep,
  attempt: number,
  settings: BackoffSettings,
  random = Math.random,
): RetryPlan {
  const delayMs = backoffDelay(attempt, settings, random);
  const plan = {
    retry: true,
    delayMs,
    rateLimited: false,
    providerFault: false,
    vmMayExist: false,
  };
  if (error instanceof InstaVmTransportError) {
    return {
      ...plan,
      providerFault: true,
      vmMayExist: step === 'create' && error.requestSent,
      cause: `no answer from the provider (${error.kind})`,
    };
  }
  if (error instanceof SandboxUnavailableError) {
    // No sandbox (or no `ant`) on this host: a retry cannot help, and nothing runs unsandboxed.
    return { ...plan, retry: false, delayMs: 0, cause: 'the local sandbox is unavailable' };
  }
  if (!(error instanceof InstaVmHttpError)) {
    return { ...plan, vmMayExist: step === 'create', cause: 'unexpected error' };
  }
  const permanent = PERMANENT[error.status];
  if (permanent) return { ...plan, retry: false, delayMs: 0, cause: permanent };
  switch (error.status) {
    case 404:
      // On create the endpoint itself is missing (a wrong INSTAVM_API_URL); later, the VM
      // vanished under us, and a retry starts over with a fresh one.
      return step === 'create'
        ? { ...plan, retry: false, delayMs: 0, cause: 'no such endpoint (check INSTAVM_API_URL)' }
        : { ...plan, cause: 'the VM vanished during provisioning' };
    case 409:
      return { ...plan, vmMayExist: step === 'create', cause: 'conflict at the provider' };
    case 429:
      return {
        ...plan,
        delayMs: error.retryAfterMs ?? DEFAULT_RATE_LIMIT_PAUSE_MS,
        rateLimited: true,
        cause: 'rate limited by the provider',
      };
    default:
      // 5xx: the provider may have done the work before failing, except 503, which gateways
      // send before the request reaches the service.
      return {
        ...plan,
        providerFault: error.status >= 500,
        vmMayExist: step === 'create' && error.status !== 503,
        cause: `the provider answered ${error.status}`,
      };
  }
}
