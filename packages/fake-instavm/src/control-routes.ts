import { type Request, type Response, Router } from 'express';
import { describeBadFaultRule } from './faults.js';
import { parseBody } from './request-body.js';
import type { FakeVm, FaultRule, RecordedRequest } from './types.js';

/** The in-process controls that the HTTP control API exposes to tests in another process. */
export interface FakeControls {
  requests(): RecordedRequest[];
  clearRequests(): void;
  vms(): FakeVm[];
  /** False when the fake never created that VM. */
  exitVmIfKnown(vmId: string): boolean;
  injectFault(rule: FaultRule): void;
  clearFaults(): void;
  reset(): void;
}

const done = (res: Response): void => {
  res.json({ ok: true });
};

/**
 * Routes under `/_fake/`. They are not recorded, take no API key and see no faults, so a test
 * can always inspect and steer the fake whatever state it scripted.
 */
export function controlRouter(controls: FakeControls): Router {
  const router = Router();
  router.get('/requests', (_req, res) => {
    res.json({ requests: controls.requests() });
  });
  router.delete('/requests', (_req, res) => {
    controls.clearRequests();
    done(res);
  });
  router.get('/vms', (_req, res) => {
    res.json({ vms: controls.vms() });
  });
  router.post('/vms/:vmId/exit', (req: Request, res: Response) => {
    const vmId = String(req.params.vmId ?? '');
    if (!controls.exitVmIfKnown(vmId)) {
      res.status(404).json({ detail: 'VM not found' });
      return;
    }
    res.json({ vm: controls.vms().find((vm) => vm.vm_id === vmId) });
  });
  router.post('/faults', (req, res) => {
    const body = parseBody(req);
    const rule = body.kind === 'json' ? body.value : undefined;
    const problem = describeBadFaultRule(rule);
    if (problem) {
      res.status(422).json({ detail: problem });
      return;
    }
    controls.injectFault(rule as FaultRule);
    done(res);
  });
  router.delete('/faults', (_req, res) => {
    controls.clearFaults();
    done(res);
  });
  router.post('/reset', (_req, res) => {
    controls.reset();
    done(res);
  });
  return router;
}
