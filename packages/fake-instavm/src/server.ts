import { setMaxListeners } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import express, { type NextFunction, type Request, type Response } from 'express';
import { controlRouter, type FakeControls } from './control-routes.js';
import { answerWithFault, FaultBook, replacesAnswer } from './faults.js';
import { type ApiAnswer, type Endpoint, instaVmEndpoints } from './instavm-endpoints.js';
import { parseBody } from './request-body.js';
import { RequestLog } from './request-log.js';
import type { FakeInstaVm, FakeInstaVmOptions, FaultRule } from './types.js';
import { VmStore } from './vm-store.js';

const DEFAULT_HOST = '127.0.0.1';

/**
 * Starts a fake InstaVM (on 127.0.0.1 unless told otherwise): real HTTP, so the real client
 * (fetch, timeouts, socket errors) is what gets tested. Resolves once it is listening.
 */
export async function startFakeInstaVm(options: FakeInstaVmOptions = {}): Promise<FakeInstaVm> {
  const now = options.now ?? Date.now;
  const store = new VmStore(now, options.enforceLifetime ?? true);
  const faults = new FaultBook();
  const log = new RequestLog();
  // Aborted by close(): ends every pending delay so nothing acts after the fake is gone.
  const closing = new AbortController();
  // Every pending create delay listens on it; dozens at once are normal under load, not a leak.
  setMaxListeners(0, closing.signal);

  const controls: FakeControls = {
    requests: () => log.all(),
    clearRequests: () => log.clear(),
    vms: () => structuredClone(store.all()),
    exitVmIfKnown: (vmId) => store.exit(vmId),
    injectFault: (rule) => faults.add(rule),
    clearFaults: () => faults.clear(),
    reset: () => {
      store.clear();
      log.clear();
      faults.clear();
    },
  };

  const app = buildApp({
    controls,
    log,
    faults,
    now,
    apiKey: options.apiKey,
    closing: closing.signal,
    endpoints: instaVmEndpoints({
      store,
      now,
      createDelayMs: options.createDelayMs ?? 0,
      pause: (ms) => sleep(ms, undefined, { signal: closing.signal }),
    }),
  });
  const server = createServer(app);
  const host = options.host ?? DEFAULT_HOST;
  const port = await listen(server, host, options.port ?? 0);

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve, reject) => {
      closing.abort();
      server.close((error) => (error ? reject(error) : resolve()));
      // Hanging requests and keep-alive sockets would otherwise hold close() open forever.
      server.closeAllConnections();
    });
    return closed;
  };

  return {
    // A wildcard address is not one to connect to; loopback reaches it from this machine.
    url: `http://${isWildcard(host) ? DEFAULT_HOST : host}:${port}`,
    close,
    requests: controls.requests,
    clearRequests: controls.clearRequests,
    vms: controls.vms,
    exitVm: (vmId) => {
      if (!store.exit(vmId)) throw new Error(`fake InstaVM has no VM ${vmId}`);
    },
    injectFault: controls.injectFault,
    clearFaults: controls.clearFaults,
    reset: controls.reset,
  };
}

interface AppParts {
  controls: FakeControls;
  log: RequestLog;
  faults: FaultBook;
  endpoints: Endpoint[];
  now: () => number;
  apiKey: string | undefined;
  closing: AbortSignal;
}

/**
 * The request pipeline: control routes first (unrecorded, unfaulted, no key), then record, then
 * a fault that acts before the operation, then the endpoint with key check, whose answer a fault
 * marked `afterEffect` replaces.
 */
function buildApp(parts: AppParts): express.Express {
  const { faults, closing } = parts;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Read every body as text so the log keeps it as sent, JSON or not.
  app.use(express.text({ type: () => true, limit: '10mb' }));
  app.use('/_fake', controlRouter(parts.controls));

  /** Logs the request and applies a fault meant to act before the operation, if one matches. */
  const recordAndApplyEarlyFault = async (req: Request, res: Response, next: NextFunction) => {
    parts.log.record(req, parts.now());
    const fault = faults.take(req.method, req.path);
    res.locals.fault = fault;
    if (fault && !fault.afterEffect) {
      if (!(await pausedUntilDone(fault.delayMs, closing))) return;
      if (replacesAnswer(fault)) {
        answerWithFault(fault, req, res);
        return;
      }
    }
    next();
  };
  app.use(recordAndApplyEarlyFault);

  /** Runs an endpoint (after the key check) and sends its answer, or an afterEffect fault. */
  const serveEndpoint =
    (handle: Endpoint['handle'], needsKey: boolean) =>
    async (req: Request, res: Response): Promise<void> => {
      const answer: ApiAnswer =
        (needsKey ? refuseBadKey(req, parts.apiKey) : undefined) ??
        (await handleUnlessClosing(handle, req, closing));
      if (closing.aborted) return;
      const fault = res.locals.fault as FaultRule | undefined;
      if (fault?.afterEffect) {
        if (!(await pausedUntilDone(fault.delayMs, closing))) return;
        if (replacesAnswer(fault)) {
          answerWithFault(fault, req, res);
          return;
        }
      }
      res.status(answer.status).json(answer.body);
    };

  for (const endpoint of parts.endpoints) {
    app[endpoint.method](endpoint.path, serveEndpoint(endpoint.handle, true));
  }
  // FastAPI's answer for a path it has no route for; no key is checked there either.
  app.use(serveEndpoint(() => ({ status: 404, body: { detail: 'Not Found' } }), false));
  app.use(answerUnexpectedError(closing));
  return app;
}

/** 401 as InstaVM answers a missing or wrong key; undefined when the key is right or unset. */
function refuseBadKey(req: Request, apiKey: string | undefined): ApiAnswer | undefined {
  if (apiKey === undefined || req.get('x-api-key') === apiKey) return undefined;
  return { status: 401, body: { detail: 'Invalid API key' } };
}

/** Runs the endpoint; a delay cut short by close() yields a placeholder that is never sent. */
async function handleUnlessClosing(
  handle: Endpoint['handle'],
  req: Request,
  closing: AbortSignal,
): Promise<ApiAnswer> {
  try {
    return await handle(req, parseBody(req));
  } catch (error) {
    if (closing.aborted) return { status: 503, body: { detail: 'fake InstaVM closed' } };
    throw error;
  }
}

/** Waits `ms` (if any); false when the fake closed meanwhile, so the caller stops there. */
async function pausedUntilDone(ms: number | undefined, closing: AbortSignal): Promise<boolean> {
  if (ms === undefined || ms <= 0) return !closing.aborted;
  try {
    await sleep(ms, undefined, { signal: closing });
    return true;
  } catch {
    return false;
  }
}

/** Express's last handler: body-parser errors keep their status, anything else is a 500. */
function answerUnexpectedError(closing: AbortSignal) {
  return (error: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    if (closing.aborted || res.headersSent) return;
    const status = (error as { status?: unknown }).status;
    const message = error instanceof Error ? error.message : String(error);
    res.status(typeof status === 'number' ? status : 500).json({ detail: message });
  };
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
