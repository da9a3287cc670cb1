import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The beta header every managed-agents call carries. */
const MANAGED_AGENTS_BETA = 'managed-agents-2026-04-01';

export type SessionStatus = 'rescheduling' | 'running' | 'idle' | 'terminated';

/** The fields of a session this fake models; the real object has many more. */
export interface FakeSession {
  id: string;
  status: SessionStatus;
  environment_id: string;
}

export interface FakeWorkQueue {
  depth: number;
  pending: number;
  workers_polling: number | null;
  oldest_queued_at: string | null;
}

export interface RecordedCall {
  method: string;
  path: string;
  query: string;
  at: number;
}

export interface FakeAnthropic {
  url: string;
  /** Sets what `work.stats` reports for an environment. */
  setWorkQueue(environmentId: string, queue: FakeWorkQueue): void;
  setSessions(sessions: FakeSession[]): void;
  calls(): RecordedCall[];
  close(): Promise<void>;
}

/**
 * A stand-in for the two Anthropic endpoints the reconciler reads, with the SDK's documented
 * shapes: `GET /v1/environments/{id}/work/stats` and `GET /v1/sessions` (cursor pages). Checks the
 * API key and the managed-agents beta header as the real API does, so the real SDK client is
 * exercised, not bypassed.
 */
export async function startFakeAnthropic(options: { apiKey: string }): Promise<FakeAnthropic> {
  const queues = new Map<string, FakeWorkQueue>();
  let sessions: FakeSession[] = [];
  const calls: RecordedCall[] = [];

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    calls.push({ method: req.method ?? '', path: url.pathname, query: url.search, at: Date.now() });
    const refusal = refuse(req, options.apiKey);
    if (refusal) return send(res, refusal.status, refusal.body);
    const stats = url.pathname.match(/^\/v1\/environments\/([^/]+)\/work\/stats$/);
    if (req.method === 'GET' && stats) {
      const queue = queues.get(decodeURIComponent(stats[1] ?? '')) ?? emptyQueue();
      return send(res, 200, { type: 'work_queue_stats', ...queue });
    }
    if (req.method === 'GET' && url.pathname === '/v1/sessions') {
      const wanted = requestedStatuses(url.searchParams);
      const data = sessions
        .filter((s) => wanted.length === 0 || wanted.includes(s.status))
        .map(toSessionObject);
      return send(res, 200, { data, next_page: null, prev_page: null });
    }
    send(res, 404, { type: 'error', error: { type: 'not_found_error', message: 'Not found' } });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    setWorkQueue: (environmentId, queue) => queues.set(environmentId, queue),
    setSessions: (next) => {
      sessions = [...next];
    },
    calls: () => [...calls],
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The SDK sends the key as `x-api-key` or, for these endpoints, as a bearer token. */
function carriesKey(req: IncomingMessage, apiKey: string): boolean {
  return req.headers['x-api-key'] === apiKey || req.headers.authorization === `Bearer ${apiKey}`;
}

function refuse(req: IncomingMessage, apiKey: string) {
  if (!carriesKey(req, apiKey)) {
    const error = { type: 'authentication_error', message: 'invalid API key' };
    return { status: 401, body: { type: 'error', error } };
  }
  const betas = String(req.headers['anthropic-beta'] ?? '').split(',');
  if (!betas.includes(MANAGED_AGENTS_BETA)) {
    const error = { type: 'invalid_request_error', message: `needs ${MANAGED_AGENTS_BETA}` };
    return { status: 400, body: { type: 'error', error } };
  }
  return undefined;
}

/** `statuses[]=running`, `statuses=running` or `statuses[0]=running`: whatever the SDK sends. */
function requestedStatuses(params: URLSearchParams): string[] {
  return [...params.entries()].filter(([key]) => key.startsWith('statuses')).map(([, v]) => v);
}

function emptyQueue(): FakeWorkQueue {
  return { depth: 0, pending: 0, workers_polling: 0, oldest_queued_at: null };
}

function toSessionObject(session: FakeSession) {
  const now = new Date().toISOString();
  return { type: 'session', created_at: now, updated_at: now, metadata: {}, ...session };
}

function send(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': 'req_fake' });
  res.end(JSON.stringify(body));
}
