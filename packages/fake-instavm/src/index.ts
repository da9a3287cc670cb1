export { startFakeInstaVm } from './server.js';
export type {
  EgressChange,
  FakeExecution,
  FakeInstaVm,
  FakeInstaVmOptions,
  FakeVm,
  FaultRule,
  RecordedRequest,
  VmEndReason,
} from './types.js';
