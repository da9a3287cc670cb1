/** The role tag on every VM this project creates; the reconciler only ever touches VMs with it. */
export const WORKER_ROLE = 'cma-worker';

/** What a worker needs, whatever runs it. Holds no real credential. */
export interface WorkerSpec {
  sessionId: string;
  /** Identity of the spawn job, written on the VM so a retry can find and adopt it. */
  jobTag: string;
  /** Environment handed to the worker: ids and placeholders only. */
  env: Record<string, string>;
}

/** A provider's view of one worker machine. */
export interface WorkerMachine {
  id: string;
  status: string;
  alive: boolean;
  metadata: Record<string, string>;
  /** When the provider created it (ms since epoch), when known. */
  createdAt?: number;
  /** Provider-specific handle needed to run commands on it (InstaVM's execution session). */
  execHandle?: string;
}

/**
 * Where workers run. Spawning is create → prepare (install the poller if missing) → apply the
 * final egress policy → start the worker; every step is safe to repeat on the same machine, so
 * a retried job can adopt what an earlier attempt made. `get` and `listOurs` are read-only: they
 * never extend a machine's life.
 */
export interface WorkerProvider {
  readonly name: string;
  create(spec: WorkerSpec, signal?: AbortSignal): Promise<WorkerMachine>;
  /** The live machine an earlier attempt of this job created, if any. */
  findByJob(jobTag: string, signal?: AbortSignal): Promise<WorkerMachine | undefined>;
  /** The machine's current state; undefined once the provider no longer knows it. */
  get(id: string, signal?: AbortSignal): Promise<WorkerMachine | undefined>;
  prepare(machine: WorkerMachine, signal?: AbortSignal): Promise<void>;
  applyEgress(machine: WorkerMachine, signal?: AbortSignal): Promise<void>;
  startWorker(machine: WorkerMachine, signal?: AbortSignal): Promise<void>;
  kill(id: string, signal?: AbortSignal): Promise<void>;
  /** Every live machine carrying this fleet's role tag. */
  listOurs(signal?: AbortSignal): Promise<WorkerMachine[]>;
}
