import { newSessionId, newTaskId, newVmId } from './ids.js';
import type { FakeExecution, FakeVm, VmEndReason } from './types.js';
import type { CreateVmInput, ExecuteInput } from './validation.js';

/**
 * The fake's VMs and executions. Dead VMs are kept (tests inspect what happened to them); only
 * live ones are visible through the API. Expiry is applied lazily on every read, against the
 * injected clock, so no timer has to run.
 */
export class VmStore {
  private readonly byId = new Map<string, FakeVm>();
  private readonly executionsByTask = new Map<string, FakeExecution>();

  constructor(
    private readonly now: () => number,
    private readonly enforceLifetime: boolean,
  ) {}

  create(input: CreateVmInput, createRequest: Record<string, unknown>): FakeVm {
    const at = this.now();
    const vm: FakeVm = {
      vm_id: newVmId(),
      session_id: newSessionId(),
      status: 'running',
      metadata: input.metadata,
      env: input.env,
      egress_policy: input.egress_policy,
      vm_lifetime_seconds: input.vm_lifetime_seconds,
      memory_mb: input.memory_mb,
      vcpu_count: input.vcpu_count,
      snapshot_id: input.snapshot_id,
      vault_ids: input.vault_ids,
      create_request: createRequest,
      created_at: new Date(at).toISOString(),
      expires_at: new Date(at + input.vm_lifetime_seconds * 1000).toISOString(),
      ended_at: undefined,
      end_reason: undefined,
      egress_history:
        input.egress_policy === undefined
          ? []
          : [{ via: 'create', policy: input.egress_policy, at }],
      executions: [],
    };
    this.byId.set(vm.vm_id, vm);
    return vm;
  }

  /** The VM when it is still live; undefined when unknown, deleted, exited or expired. */
  findLive(vmId: string): FakeVm | undefined {
    const vm = this.byId.get(vmId);
    return vm && this.isLive(vm) ? vm : undefined;
  }

  findLiveBySession(sessionId: string): FakeVm | undefined {
    return this.liveVms().find((vm) => vm.session_id === sessionId);
  }

  /** Any VM, dead or live, that ever had this session. */
  findBySession(sessionId: string): FakeVm | undefined {
    const vm = [...this.byId.values()].find((candidate) => candidate.session_id === sessionId);
    if (vm) this.expireIfOverdue(vm);
    return vm;
  }

  /** Live VMs whose metadata holds every given pair, oldest first. */
  listLive(metadata: Record<string, unknown>, limit: number): FakeVm[] {
    return this.liveVms()
      .filter((vm) => Object.entries(metadata).every(([key, value]) => vm.metadata[key] === value))
      .slice(0, limit);
  }

  /** Ends a live VM; a dead one keeps the status and reason it died with. */
  end(vm: FakeVm, reason: VmEndReason): void {
    if (!this.isLive(vm)) return;
    vm.status = reason === 'deleted' || reason === 'killed' ? 'killed' : 'stopped';
    vm.end_reason = reason;
    vm.ended_at = new Date(this.now()).toISOString();
  }

  /** The worker exited on idle. False for an id the fake never created. */
  exit(vmId: string): boolean {
    const vm = this.byId.get(vmId);
    if (!vm) return false;
    this.end(vm, 'exited');
    return true;
  }

  setEgress(vm: FakeVm, policy: unknown): void {
    vm.egress_policy = policy;
    vm.egress_history.push({ via: 'egress', policy, at: this.now() });
  }

  recordExecution(vm: FakeVm, input: ExecuteInput, mode: 'sync' | 'async'): FakeExecution {
    const execution: FakeExecution = {
      task_id: newTaskId(),
      mode,
      command: input.command,
      session_id: input.session_id,
      language: input.language,
      effective_language: input.language ?? 'python',
      timeout: input.timeout,
      vault_ids: input.vault_ids,
      at: this.now(),
    };
    vm.executions.push(execution);
    this.executionsByTask.set(execution.task_id, execution);
    return execution;
  }

  findExecution(taskId: string): FakeExecution | undefined {
    return this.executionsByTask.get(taskId);
  }

  /** Every VM, dead ones included, with expiry applied. */
  all(): FakeVm[] {
    const vms = [...this.byId.values()];
    for (const vm of vms) this.expireIfOverdue(vm);
    return vms;
  }

  clear(): void {
    this.byId.clear();
    this.executionsByTask.clear();
  }

  private liveVms(): FakeVm[] {
    return this.all().filter((vm) => vm.status === 'running');
  }

  private isLive(vm: FakeVm): boolean {
    this.expireIfOverdue(vm);
    return vm.status === 'running';
  }

  /** A VM past its lifetime dies at its expiry time, as InstaVM's reaper would end it. */
  private expireIfOverdue(vm: FakeVm): void {
    if (!this.enforceLifetime || vm.status !== 'running') return;
    const expiresAt = Date.parse(vm.expires_at);
    if (this.now() < expiresAt) return;
    vm.status = 'stopped';
    vm.end_reason = 'expired';
    vm.ended_at = vm.expires_at;
  }
}
