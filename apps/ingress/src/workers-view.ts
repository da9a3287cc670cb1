import type { Transition, WorkerState, WorkerStateStore } from '@cma-fleet/shared';

/** A worker as `/workers` shows it (snake_case, like the reference cookbook's endpoint). */
export interface WorkerView {
  session_id: string;
  status: string;
  vm_id: string | null;
  error: string | null;
  job_id: string | null;
  attempts: number | null;
  age_seconds: number;
  updated_at: string;
  /** Every recorded transition, oldest first, with when and why. */
  transitions: Array<{ status: string; at: string; reason: string }>;
}

export function viewWorker(
  state: WorkerState,
  now: number,
  history: Transition[] = [],
): WorkerView {
  return {
    session_id: state.sessionId,
    status: state.status,
    vm_id: state.vmId ?? null,
    error: state.error ?? null,
    job_id: state.jobId ?? null,
    attempts: state.attempts ?? null,
    age_seconds: Math.max(0, Math.round((now - state.createdAt) / 1000)),
    updated_at: new Date(state.updatedAt).toISOString(),
    transitions: history.map((t) => ({
      status: t.status,
      at: new Date(t.at).toISOString(),
      reason: t.reason,
    })),
  };
}

export async function listWorkerViews(store: WorkerStateStore, now = Date.now()) {
  const states = await store.list();
  const histories = await store.histories(states.map((state) => state.sessionId));
  return states.map((state, i) => viewWorker(state, now, histories[i]));
}
