/**
 * Request and response shapes of the InstaVM REST API, as publicly documented. Fields marked
 * unconfirmed come from InstaVM's SDKs and cookbooks rather than a published schema.
 */

/** Deny-by-default egress rules; always sent whole, since set-versus-merge is undocumented. */
export interface EgressPolicy {
  allow_package_managers: boolean;
  allow_http: boolean;
  allow_https: boolean;
  allowed_domains: string[];
  allowed_cidrs: string[];
}

export interface CreateVmRequest {
  /** 20..86400; the API's default of 300 s would end a busy worker, so always set it. */
  vm_lifetime_seconds: number;
  memory_mb: number;
  vcpu_count: number;
  metadata: Record<string, string>;
  env: Record<string, string>;
  /** Set at creation so the VM never runs with open egress. */
  egress_policy: EgressPolicy;
  snapshot_id?: string;
  vault_ids?: string[];
}

export interface Vm {
  vm_id: string;
  /** The execution session bound to the VM, used by `/execute`. */
  session_id: string;
  /** e.g. `starting`, `running`, `stopped`, `killed` (the exact set is unconfirmed). */
  status: string;
  metadata?: Record<string, string>;
  created_at?: string;
  expires_at?: string;
}

export interface VmList {
  vms: Vm[];
}

export interface ExecuteRequest {
  command: string;
  session_id: string;
  /** Defaults to "python" at InstaVM; shell scripts must say "bash". */
  language: 'bash' | 'python';
  /** Seconds, 1..600. */
  timeout: number;
  vault_ids?: string[];
}

export interface ExecuteResult {
  stdout?: string;
  stderr?: string;
  exit_code?: number;
  execution_time?: number;
}

export interface AsyncExecution {
  task_id: string;
}

/** VM statuses that mean the VM is still there (and costing money). */
export const LIVE_VM_STATUSES: ReadonlySet<string> = new Set([
  'pending',
  'creating',
  'starting',
  'booting',
  'running',
  'active',
  'ready',
]);

export function isVmAlive(vm: Vm | undefined): boolean {
  return vm !== undefined && LIVE_VM_STATUSES.has(vm.status.toLowerCase());
}
