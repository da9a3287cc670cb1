import { InstaVmHttpError, InstaVmTransportError } from '@cma-fleet/instavm';

/** The provisioning step that failed: only a create can leave a VM behind when it errs. */
export type ProvisionStep = 'create' | 'other';

export interface RetryDecision {
  /** False when retrying cannot help (bad key, invalid request): fail the job at once. */
  retry: boolean;
  /** The provider may have acted although we saw an error: look the VM up before creating. */
  vmMayExist: boolean;
  /** A delay the provider asked for (Retry-After), in ms. */
  retryAfterMs?: number;
  /** A short cause for logs and the worker state. */
  cause: string;
}

/** Statuses that no retry can fix: the request or the credentials are wrong. */
const PERMANENT: Record<number, string> = {
  400: 'the provider rejected the request as invalid',
  401: 'the provider rejected the API key (check INSTAVM_API_KEY)',
  403: 'the API key may not do this (check the InstaVM account and INSTAVM_API_KEY)',
  422: 'the provider rejected the request body (check WORKER_* settings)',
};

/**
 * Whether and how to retry after a failed provisioning step. Pure, so it can be read as a table
 * (see its test) and tuned in one place.
 */
export function decideRetry(error: unknown, step: ProvisionStep): RetryDecision {
  if (error instanceof InstaVmHttpError) return decideHttp(error, step);
  if (error instanceof InstaVmTransportError) {
    return {
      retry: true,
      vmMayExist: step === 'create' && error.requestSent,
      cause: `provider ${error.kind}`,
    };
  }
  return { retry: true, vmMayExist: step === 'create', cause: 'unexpected error' };
}

function decideHttp(error: InstaVmHttpError, step: ProvisionStep): RetryDecision {
  const permanent = PERMANENT[error.status];
  if (permanent) return { retry: false, vmMayExist: false, cause: permanent };
  if (error.status === 404) {
    // On create the endpoint itself is missing (a wrong INSTAVM_API_URL); later, the VM vanished
    // under us, and a retry starts over with a fresh one.
    return step === 'create'
      ? {
          retry: false,
          vmMayExist: false,
          cause: 'the provider has no such endpoint (check INSTAVM_API_URL)',
        }
      : { retry: true, vmMayExist: false, cause: 'the VM vanished during provisioning' };
  }
  if (error.status === 429) {
    return {
      retry: true,
      vmMayExist: false,
      retryAfterMs: error.retryAfterMs,
      cause: 'rate limited',
    };
  }
  if (error.status === 409) {
    return { retry: true, vmMayExist: step === 'create', cause: 'conflict at the provider' };
  }
  // 5xx and anything else unexpected: the provider may have done the work before failing,
  // except 503, which gateways send before the request reaches the service.
  const mayExist = step === 'create' && error.status !== 503;
  return { retry: true, vmMayExist: mayExist, cause: `provider answered ${error.status}` };
}
