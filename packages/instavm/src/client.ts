import { type Dispatcher, request } from 'undici';
import { InstaVmHttpError, InstaVmTransportError } from './errors.js';
import { routes } from './routes.js';
import type {
  AsyncExecution,
  CreateVmRequest,
  EgressPolicy,
  ExecuteRequest,
  ExecuteResult,
  Vm,
  VmList,
} from './types.js';

export interface InstaVmClientOptions {
  /** e.g. https://api.instavm.io, without a trailing path. */
  baseUrl: string;
  apiKey: string;
  /** Per-request timeout in ms (default 30 s). */
  timeoutMs?: number;
  /** Called after every answered request, for metrics. */
  onResponse?: (info: { endpoint: string; method: string; status: number; ms: number }) => void;
}

export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

type Method = 'GET' | 'POST' | 'DELETE' | 'PATCH';

/** Connection errors that mean no byte of the request reached the provider. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * A thin typed client for the InstaVM REST API: undici's `request` with a timeout and an abort
 * signal on every call, the response body kept on failure, no retries (retrying is the
 * spawner's policy). Not `fetch`: its WHATWG layer (Request, Response, web streams) was a
 * quarter of the spawner's CPU per spawn; `request` is the same HTTP client without it.
 */
export class InstaVmClient {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: InstaVmClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** Creates a VM and waits for it to boot (`?wait=true`). */
  createVm(request: CreateVmRequest, call?: CallOptions): Promise<Vm> {
    return this.request<Vm>('POST', routes.createVm(), 'vms.create', request, call);
  }

  /** Reads a VM; `undefined` when the provider no longer knows it (404). Read-only. */
  async getVm(vmId: string, call?: CallOptions): Promise<Vm | undefined> {
    try {
      return await this.request<Vm>('GET', routes.getVm(vmId), 'vms.get', undefined, call);
    } catch (error) {
      if (error instanceof InstaVmHttpError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** Kills a VM. A VM already gone (404) counts as killed. */
  async deleteVm(vmId: string, call?: CallOptions): Promise<void> {
    try {
      await this.request('DELETE', routes.deleteVm(vmId), 'vms.delete', undefined, call);
    } catch (error) {
      if (error instanceof InstaVmHttpError && error.status === 404) return;
      throw error;
    }
  }

  /** Lists the VMs whose metadata holds every given pair. Read-only. */
  async listVms(metadata: Record<string, string>, call?: CallOptions): Promise<Vm[]> {
    const answer = await this.request<VmList | Vm[]>(
      'GET',
      routes.listVms(metadata),
      'vms.list',
      undefined,
      call,
    );
    const vms = Array.isArray(answer) ? answer : answer.vms;
    return vms.filter((vm) =>
      Object.entries(metadata).every(([key, value]) => vm.metadata?.[key] === value),
    );
  }

  /** Replaces a VM's egress policy (always the whole policy). */
  async setVmEgress(vmId: string, policy: EgressPolicy, call?: CallOptions): Promise<void> {
    await this.request('POST', routes.setVmEgress(vmId), 'egress.set', policy, call);
  }

  /** Runs a command and waits for it (capped by `timeout` seconds at the provider). */
  execute(request: ExecuteRequest, call?: CallOptions): Promise<ExecuteResult> {
    return this.request<ExecuteResult>('POST', routes.execute(), 'execute', request, call);
  }

  /** Starts a command without waiting for it. */
  executeAsync(request: ExecuteRequest, call?: CallOptions): Promise<AsyncExecution> {
    return this.request<AsyncExecution>(
      'POST',
      routes.executeAsync(),
      'execute_async',
      request,
      call,
    );
  }

  private async request<T>(
    method: Method,
    path: string,
    endpoint: string,
    body: unknown,
    call: CallOptions = {},
  ): Promise<T> {
    const timeout = AbortSignal.timeout(call.timeoutMs ?? this.timeoutMs);
    const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
    const started = performance.now();
    let response: Dispatcher.ResponseData;
    try {
      response = await request(`${this.baseUrl}${path}`, {
        method,
        signal,
        headers: {
          'x-api-key': this.options.apiKey,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw transportError(method, path, error);
    }
    const text = await readBody(response, method, path);
    const status = response.statusCode;
    this.options.onResponse?.({ endpoint, method, status, ms: performance.now() - started });
    if (status < 200 || status > 299) {
      const retryAfter = retryAfterMs(response.headers['retry-after']);
      throw new InstaVmHttpError(method, path, status, text, retryAfter);
    }
    return parseJson<T>(text, method, path, status);
  }
}

/** A 2xx that is not JSON (a proxy's page, say) is a provider failure, not a SyntaxError. */
function parseJson<T>(text: string, method: string, path: string, status: number): T {
  if (text === '') return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new InstaVmHttpError(method, path, status, `not JSON: ${text}`, undefined);
  }
}

async function readBody(
  response: Dispatcher.ResponseData,
  method: string,
  path: string,
): Promise<string> {
  try {
    return await response.body.text();
  } catch (error) {
    throw transportError(method, path, error);
  }
}

function transportError(method: string, path: string, error: unknown): InstaVmTransportError {
  const name = (error as { name?: string }).name;
  // `fetch` wrapped a socket's error in a TypeError's cause; `request` throws it as it is.
  const { code = '' } = ((error as { cause?: { code?: string } }).cause ?? error) as {
    code?: string;
  };
  if (name === 'TimeoutError')
    return new InstaVmTransportError(method, path, 'timeout', true, error);
  if (name === 'AbortError') return new InstaVmTransportError(method, path, 'other', true, error);
  const sent = !NOT_SENT_CODES.has(code);
  if (code === 'ECONNREFUSED')
    return new InstaVmTransportError(method, path, 'refused', sent, error);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new InstaVmTransportError(method, path, 'dns', sent, error);
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new InstaVmTransportError(method, path, 'timeout', sent, error);
  }
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') {
    return new InstaVmTransportError(method, path, 'reset', sent, error);
  }
  return new InstaVmTransportError(method, path, 'other', sent, error);
}

/** `Retry-After` in seconds or as an HTTP date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(
  value: string | string[] | undefined,
  now = Date.now(),
): number | undefined {
  const header = Array.isArray(value) ? value[0] : value;
  if (header === undefined || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
