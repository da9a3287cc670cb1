/** The provider answered with a status outside 2xx. Keeps the body for the error message. */
export class InstaVmHttpError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
    /** From a `Retry-After` header, when one was sent. */
    readonly retryAfterMs: number | undefined,
  ) {
    super(`InstaVM ${method} ${stripQuery(path)} answered ${status}: ${summarise(body)}`);
    this.name = 'InstaVmHttpError';
  }
}

/**
 * The request did not get an answer: a timeout, a refused or reset connection. `requestSent`
 * is false only when the connection was never made, so the provider cannot have acted on it.
 */
export class InstaVmTransportError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly kind: 'timeout' | 'refused' | 'reset' | 'dns' | 'other',
    readonly requestSent: boolean,
    cause: unknown,
  ) {
    super(`InstaVM ${method} ${stripQuery(path)} failed: ${kind}`, { cause });
    this.name = 'InstaVmTransportError';
  }
}

function stripQuery(path: string): string {
  return path.split('?')[0] ?? path;
}

/** FastAPI errors carry `detail`; show it, or the start of the body. */
function summarise(body: string): string {
  try {
    const parsed = JSON.parse(body) as { detail?: unknown };
    if (typeof parsed.detail === 'string') return parsed.detail;
    if (parsed.detail !== undefined) return JSON.stringify(parsed.detail).slice(0, 300);
  } catch {
    // not JSON: fall through to the raw text
  }
  return body.slice(0, 300) || '(empty body)';
}
