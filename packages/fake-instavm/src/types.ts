/**
 * What the fake records and what tests inspect. Field names of VMs follow the InstaVM API
 * (snake_case) so a test can compare a recorded VM with the create call it sent.
 */

/** One request the fake received on the InstaVM API (control requests under /_fake/ are not). */
export interface RecordedRequest {
  method: string;
  /** Path without the query string, as sent (not decoded). */
  path: string;
  query: Record<string, string>;
  /** Header names are lower-case, as Node delivers them. */
  headers: Record<string, string>;
  /** Parsed JSON when the body is JSON, the raw text otherwise, undefined when there was none. */
  body: unknown;
  /** Epoch ms at arrival, from the fake's clock. */
  at: number;
}

/** Why a VM is no longer live. */
export type VmEndReason = 'deleted' | 'killed' | 'exited' | 'expired';

/** One egress policy the VM was given, at creation or through the egress endpoint. */
export interface EgressChange {
  via: 'create' | 'egress';
  /** The whole policy exactly as sent. */
  policy: unknown;
  at: number;
}

/** One command run on a VM through /execute or /execute_async. */
export interface FakeExecution {
  task_id: string;
  mode: 'sync' | 'async';
  command: string;
  session_id: string;
  /** As sent; undefined when the caller left it out (real InstaVM then runs it as python). */
  language: string | undefined;
  /** What InstaVM would run it as: the sent language, else its default, python. */
  effective_language: string;
  timeout: number | undefined;
  vault_ids: string[] | undefined;
  at: number;
}

/** A VM the fake created, live or not, with everything the create call sent. */
export interface FakeVm {
  vm_id: string;
  session_id: string;
  /** 'running' while live; 'killed' after DELETE or /kill; 'stopped' after exit or expiry. */
  status: 'running' | 'stopped' | 'killed';
  metadata: Record<string, string>;
  env: Record<string, string>;
  /** Undefined when the create call sent none (the VM then ran with the provider's default). */
  egress_policy: unknown;
  vm_lifetime_seconds: number;
  memory_mb: number;
  vcpu_count: number;
  snapshot_id: string | undefined;
  vault_ids: string[] | undefined;
  /** The create body exactly as sent, including fields the fake does not model. */
  create_request: Record<string, unknown>;
  created_at: string;
  expires_at: string;
  ended_at: string | undefined;
  end_reason: VmEndReason | undefined;
  egress_history: EgressChange[];
  executions: FakeExecution[];
}

/**
 * A scripted misbehaviour. A request matches when method and path prefix (both optional) match;
 * the first rule with `times` left applies, and each application uses one. A rule that sets none
 * of status, body, hang and resetConnection only adds `delayMs` to the real answer.
 */
export interface FaultRule {
  /** Case-insensitive; any method when absent. */
  method?: string;
  /** Prefix of the path without query, e.g. '/v1/vms'; any path when absent. */
  path?: string;
  /** Answer with this status (500 when only `body` is given). */
  status?: number;
  /** Answer body; `{"detail":"Injected fault"}` when a status is given without one. */
  body?: unknown;
  /** Value of the Retry-After header on the fault's answer. */
  retryAfter?: string;
  /** Wait this long before answering (alone, it just slows the real answer). */
  delayMs?: number;
  /** Never answer; the request ends only when the fake closes. */
  hang?: boolean;
  /** Reset the TCP connection instead of answering. */
  resetConnection?: boolean;
  /** Perform the real operation first, then misbehave: a create that worked but whose answer
   * was lost. */
  afterEffect?: boolean;
  /** How many matching requests it applies to; unlimited when absent. */
  times?: number;
}

export interface FakeInstaVmOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Address to listen on (default 127.0.0.1); 0.0.0.0 lets other containers reach it. */
  host?: string;
  /** When set, requests must carry `x-api-key` equal to it or get 401. */
  apiKey?: string;
  /** Latency added to each VM create, as a slow boot would. */
  createDelayMs?: number;
  /** Whether a VM past created_at + vm_lifetime_seconds is dead (default true, as at InstaVM). */
  enforceLifetime?: boolean;
  /** Clock in epoch ms (default Date.now), so tests can move past a VM's lifetime without
   * waiting for it. */
  now?: () => number;
}

export interface FakeInstaVm {
  /** Base URL, e.g. http://127.0.0.1:41234, to pass as the client's baseUrl. */
  url: string;
  /** Stops listening and ends every open connection, hanging requests included. */
  close(): Promise<void>;
  /** Every InstaVM API request received so far (copies), oldest first. */
  requests(): RecordedRequest[];
  clearRequests(): void;
  /** Every VM ever created, dead ones included. */
  vms(): FakeVm[];
  /** The VM stops as if its worker exited on idle; throws for an unknown id. */
  exitVm(vmId: string): void;
  injectFault(rule: FaultRule): void;
  clearFaults(): void;
  /** Forgets VMs, executions, requests and faults. */
  reset(): void;
}
