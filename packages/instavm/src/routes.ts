/**
 * Every InstaVM path the client calls, in one place. Several are not in a published schema
 * (marked unconfirmed); a user holding the live `/openapi.json` can correct them here.
 */
export const routes = {
  createVm: () => '/v1/vms?wait=true',
  getVm: (vmId: string) => `/v1/vms/${encodeURIComponent(vmId)}`,
  deleteVm: (vmId: string) => `/v1/vms/${encodeURIComponent(vmId)}`,
  /** Filtering by metadata on this endpoint is unconfirmed; the client filters again itself. */
  listVms: (metadata: Record<string, string>) =>
    `/v1/vms?limit=1000&metadata=${encodeURIComponent(JSON.stringify(metadata))}`,
  /** Unconfirmed path. */
  setVmEgress: (vmId: string) => `/v1/egress/vm/${encodeURIComponent(vmId)}`,
  execute: () => '/execute',
  executeAsync: () => '/execute_async',
} as const;
