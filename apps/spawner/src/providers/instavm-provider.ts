import { type EgressPolicy, type InstaVmClient, isVmAlive, type Vm } from '@cma-fleet/instavm';
import {
  installAntScript,
  installEgressDomains,
  startWorkerScript,
  type WorkerCommand,
} from '../bootstrap.js';
import {
  WORKER_ROLE,
  type WorkerMachine,
  type WorkerProvider,
  type WorkerSpec,
} from './provider.js';

export interface InstaVmProviderSettings {
  /** Tells this fleet's VMs from another fleet's on the same account. */
  fleet: string;
  memoryMb: number;
  vcpuCount: number;
  lifetimeSeconds: number;
  /** Hosts the worker may reach: the Anthropic API host first, then WORKER_EGRESS_DOMAINS. */
  egressDomains: string[];
  snapshotId: string | undefined;
  vaultIds: string[];
  antVersion: string;
  command: WorkerCommand;
}

/** Seconds InstaVM may take to install the poller (its execution cap is about five minutes). */
const INSTALL_TIMEOUT_SECONDS = 300;

/** Workers as InstaVM microVMs: the real key lives in an InstaVM vault, swapped in at egress. */
export class InstaVmProvider implements WorkerProvider {
  readonly name = 'instavm';

  constructor(
    private readonly client: InstaVmClient,
    private readonly settings: InstaVmProviderSettings,
  ) {}

  async create(spec: WorkerSpec, signal?: AbortSignal): Promise<WorkerMachine> {
    const s = this.settings;
    const vm = await this.client.createVm(
      {
        vm_lifetime_seconds: s.lifetimeSeconds,
        memory_mb: s.memoryMb,
        vcpu_count: s.vcpuCount,
        env: spec.env,
        metadata: {
          role: WORKER_ROLE,
          fleet: s.fleet,
          session_id: spec.sessionId,
          job: spec.jobTag,
        },
        // In force from the first instant; widened for the download only when no snapshot
        // carries `ant`, and narrowed again before the worker starts.
        egress_policy: this.policy(s.snapshotId ? [] : installEgressDomains),
        ...(s.snapshotId ? { snapshot_id: s.snapshotId } : {}),
        ...(s.vaultIds.length > 0 ? { vault_ids: s.vaultIds } : {}),
      },
      { signal },
    );
    return toMachine(vm);
  }

  async findByJob(jobTag: string, signal?: AbortSignal): Promise<WorkerMachine | undefined> {
    const vms = await this.client.listVms(
      { role: WORKER_ROLE, fleet: this.settings.fleet, job: jobTag },
      { signal },
    );
    const live = vms.find(isVmAlive);
    return live ? toMachine(live) : undefined;
  }

  async get(id: string, signal?: AbortSignal): Promise<WorkerMachine | undefined> {
    const vm = await this.client.getVm(id, { signal });
    return vm ? toMachine(vm) : undefined;
  }

  async prepare(machine: WorkerMachine, signal?: AbortSignal): Promise<void> {
    if (this.settings.snapshotId) return;
    const result = await this.client.execute(
      {
        command: installAntScript(this.settings.antVersion),
        session_id: execHandle(machine),
        language: 'bash',
        timeout: INSTALL_TIMEOUT_SECONDS,
        ...this.vaults(),
      },
      { signal, timeoutMs: (INSTALL_TIMEOUT_SECONDS + 30) * 1000 },
    );
    if (result.exit_code !== undefined && result.exit_code !== 0) {
      throw new Error(`installing ant failed (exit ${result.exit_code}): ${tail(result.stderr)}`);
    }
  }

  async applyEgress(machine: WorkerMachine, signal?: AbortSignal): Promise<void> {
    await this.client.setVmEgress(machine.id, this.policy([]), { signal });
  }

  async startWorker(machine: WorkerMachine, signal?: AbortSignal): Promise<void> {
    await this.client.executeAsync(
      {
        command: startWorkerScript(this.settings.command),
        session_id: execHandle(machine),
        language: 'bash',
        timeout: 60,
        ...this.vaults(),
      },
      { signal },
    );
  }

  kill(id: string, signal?: AbortSignal): Promise<void> {
    return this.client.deleteVm(id, { signal });
  }

  async listOurs(signal?: AbortSignal): Promise<WorkerMachine[]> {
    const vms = await this.client.listVms(
      { role: WORKER_ROLE, fleet: this.settings.fleet },
      { signal },
    );
    return vms.filter(isVmAlive).map(toMachine);
  }

  private policy(extraDomains: string[]): EgressPolicy {
    return {
      allow_package_managers: false,
      allow_http: false,
      allow_https: true,
      allowed_domains: [...new Set([...this.settings.egressDomains, ...extraDomains])],
      allowed_cidrs: [],
    };
  }

  private vaults(): { vault_ids?: string[] } {
    return this.settings.vaultIds.length > 0 ? { vault_ids: this.settings.vaultIds } : {};
  }
}

function toMachine(vm: Vm): WorkerMachine {
  const created = vm.created_at ? Date.parse(vm.created_at) : Number.NaN;
  return {
    id: vm.vm_id,
    status: vm.status,
    alive: isVmAlive(vm),
    metadata: vm.metadata ?? {},
    createdAt: Number.isNaN(created) ? undefined : created,
    execHandle: vm.session_id,
  };
}

function execHandle(machine: WorkerMachine): string {
  if (!machine.execHandle) throw new Error(`VM ${machine.id} has no execution session id`);
  return machine.execHandle;
}

function tail(text: string | undefined): string {
  return (text ?? '').trim().split('\n').slice(-5).join('\n').slice(0, 500);
}
