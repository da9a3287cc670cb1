import type { Request } from 'express';
import { type ParsedBody, queryOf } from './request-body.js';
import type { FakeVm } from './types.js';
import {
  isPlainObject,
  type ValidationIssue,
  validateCreateVm,
  validateEgressPolicy,
  validateExecute,
  validateKill,
} from './validation.js';
import type { VmStore } from './vm-store.js';

/**
 * The InstaVM endpoints the client uses (see packages/instavm/src/routes.ts) plus the two session
 * endpoints of the reference. Each handler computes an answer instead of writing it, so the
 * server can swap it for a fault after the real effect has happened.
 */

export interface ApiAnswer {
  status: number;
  body: unknown;
}

export interface Endpoint {
  method: 'get' | 'post' | 'delete';
  path: string;
  handle(req: Request, body: ParsedBody): ApiAnswer | Promise<ApiAnswer>;
}

export interface EndpointContext {
  store: VmStore;
  now: () => number;
  createDelayMs: number;
  /** Waits, or rejects once the fake is closing. */
  pause: (ms: number) => Promise<void>;
}

const ok = (body: unknown): ApiAnswer => ({ status: 200, body });
const notFound = (detail: string): ApiAnswer => ({ status: 404, body: { detail } });
const unprocessable = (issues: ValidationIssue[]): ApiAnswer => ({
  status: 422,
  body: { detail: issues },
});
const vmNotFound = (): ApiAnswer => notFound('VM not found');
const sessionNotFound = (): ApiAnswer => notFound('Session not found');

export const FINISHED_EXECUTION = { stdout: '', stderr: '', exit_code: 0, execution_time: 0.01 };

/** The JSON body, or the 422 FastAPI gives for a missing or undecodable one. */
function jsonBodyOr422(body: ParsedBody): { value: unknown } | ApiAnswer {
  if (body.kind === 'json') return { value: body.value };
  if (body.kind === 'none') {
    return unprocessable([{ loc: ['body'], msg: 'Field required', type: 'missing' }]);
  }
  return unprocessable([{ loc: ['body', 0], msg: 'JSON decode error', type: 'json_invalid' }]);
}

/** The documented VM shape; internals the tests inspect stay out of the API's answers. */
function publicVm(vm: FakeVm): Record<string, unknown> {
  return {
    vm_id: vm.vm_id,
    session_id: vm.session_id,
    status: vm.status,
    metadata: vm.metadata,
    created_at: vm.created_at,
    expires_at: vm.expires_at,
  };
}

function param(req: Request, name: string): string {
  return String(req.params[name] ?? '');
}

export function instaVmEndpoints(ctx: EndpointContext): Endpoint[] {
  const { store } = ctx;

  /** `POST /v1/vms?wait=true`: the fake boots instantly (after createDelayMs), wait or not. */
  async function createVm(_req: Request, body: ParsedBody): Promise<ApiAnswer> {
    const json = jsonBodyOr422(body);
    if (!('value' in json)) return json;
    const checked = validateCreateVm(json.value);
    if (!checked.ok) return unprocessable(checked.issues);
    if (ctx.createDelayMs > 0) await ctx.pause(ctx.createDelayMs);
    const vm = store.create(checked.value, json.value as Record<string, unknown>);
    return ok(publicVm(vm));
  }

  function getVm(req: Request): ApiAnswer {
    const vm = store.findLive(param(req, 'vmId'));
    return vm ? ok(publicVm(vm)) : vmNotFound();
  }

  function deleteVm(req: Request): ApiAnswer {
    const vm = store.findLive(param(req, 'vmId'));
    if (!vm) return vmNotFound();
    store.end(vm, 'deleted');
    return ok({ status: 'killed' });
  }

  /** `GET /v1/vms?limit=&metadata=<JSON>`: live VMs holding every given metadata pair. */
  function listVms(req: Request): ApiAnswer {
    const query = queryOf(req);
    const limit = query.limit === undefined ? 100 : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      const msg = 'Input should be a valid integer between 1 and 1000';
      return unprocessable([{ loc: ['query', 'limit'], msg, type: 'int_parsing' }]);
    }
    let metadata: unknown = {};
    try {
      metadata = query.metadata === undefined ? {} : JSON.parse(query.metadata);
    } catch {
      metadata = undefined;
    }
    if (!isPlainObject(metadata)) {
      const msg = 'metadata must be a JSON object';
      return unprocessable([{ loc: ['query', 'metadata'], msg, type: 'json_invalid' }]);
    }
    return ok({ vms: store.listLive(metadata, limit).map(publicVm) });
  }

  /** Keeps the whole policy: whether InstaVM merges or replaces is undocumented. */
  function setVmEgress(req: Request, body: ParsedBody): ApiAnswer {
    const json = jsonBodyOr422(body);
    if (!('value' in json)) return json;
    const checked = validateEgressPolicy(json.value);
    if (!checked.ok) return unprocessable(checked.issues);
    const vm = store.findLive(param(req, 'vmId'));
    if (!vm) return vmNotFound();
    store.setEgress(vm, checked.value);
    return ok({ vm_id: vm.vm_id, egress_policy: checked.value });
  }

  function executeOn(mode: 'sync' | 'async') {
    return (_req: Request, body: ParsedBody): ApiAnswer => {
      const json = jsonBodyOr422(body);
      if (!('value' in json)) return json;
      const checked = validateExecute(json.value);
      if (!checked.ok) return unprocessable(checked.issues);
      const vm = store.findLiveBySession(checked.value.session_id);
      if (!vm) return sessionNotFound();
      const execution = store.recordExecution(vm, checked.value, mode);
      return ok(mode === 'sync' ? FINISHED_EXECUTION : { task_id: execution.task_id });
    };
  }

  /** Every execution finishes at once in the fake. */
  function getExecution(req: Request): ApiAnswer {
    const execution = store.findExecution(param(req, 'taskId'));
    if (!execution) return notFound('Execution not found');
    return ok({
      task_id: execution.task_id,
      is_complete: true,
      status: 'completed',
      ...FINISHED_EXECUTION,
    });
  }

  /** `POST /kill`: 404 when the session's VM is already gone, which callers treat as killed. */
  function killSession(_req: Request, body: ParsedBody): ApiAnswer {
    const json = jsonBodyOr422(body);
    if (!('value' in json)) return json;
    const checked = validateKill(json.value);
    if (!checked.ok) return unprocessable(checked.issues);
    const vm = store.findLiveBySession(checked.value.session_id);
    if (!vm) return sessionNotFound();
    store.end(vm, 'killed');
    return ok({ session_id: vm.session_id, status: 'killed' });
  }

  /** `GET /v1/sessions/status/{id}`: read-only liveness, dead sessions still answer. */
  function sessionStatus(req: Request): ApiAnswer {
    const vm = store.findBySession(param(req, 'sessionId'));
    if (!vm) return sessionNotFound();
    const alive = vm.status === 'running';
    const now = ctx.now();
    const created = Date.parse(vm.created_at);
    const endedOrNow = alive ? now : Date.parse(vm.ended_at ?? vm.expires_at);
    return ok({
      session_id: vm.session_id,
      exists: true,
      vm_assigned: true,
      vm_status: alive ? 'active' : 'killed',
      vm_id: vm.vm_id,
      vm_alive: alive,
      uptime_seconds: Math.max(0, Math.floor((endedOrNow - created) / 1000)),
      expires_in_seconds: alive
        ? Math.max(0, Math.floor((Date.parse(vm.expires_at) - now) / 1000))
        : 0,
      created_at: vm.created_at,
    });
  }

  return [
    { method: 'post', path: '/v1/vms', handle: createVm },
    { method: 'get', path: '/v1/vms', handle: listVms },
    { method: 'get', path: '/v1/vms/:vmId', handle: getVm },
    { method: 'delete', path: '/v1/vms/:vmId', handle: deleteVm },
    { method: 'post', path: '/v1/egress/vm/:vmId', handle: setVmEgress },
    { method: 'post', path: '/execute', handle: executeOn('sync') },
    { method: 'post', path: '/execute_async', handle: executeOn('async') },
    { method: 'get', path: '/v1/executions/:taskId', handle: getExecution },
    { method: 'post', path: '/kill', handle: killSession },
    { method: 'get', path: '/v1/sessions/status/:sessionId', handle: sessionStatus },
  ];
}
