import { endReason, type WorkerMachine } from '@cma-fleet/spawner';
import { describe, expect, it } from 'vitest';

const machine = (status: string): WorkerMachine => ({
  id: 'vm_1',
  status,
  alive: false,
  metadata: {},
});
const HOUR = 3_600_000;

describe('why a worker ended', () => {
  it.each([
    ['lifetime reached, whatever the provider says', undefined, HOUR, /^lifetime reached$/],
    ['killed', machine('killed'), 60_000, /^killed$/],
    ['idle exit: the VM powered off', machine('stopped'), 60_000, /^idle exit/],
    ['vanished: the provider no longer knows it', undefined, 60_000, /^vanished/],
  ])('%s', (_case, vm, ageMs, reason) => {
    expect(endReason(vm, ageMs, HOUR)).toMatch(reason);
  });
});
