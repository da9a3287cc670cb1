import { randomBytes } from 'node:crypto';

/** Random hex keeps ids unguessable and unique across resets, like the provider's. */
function randomHex(): string {
  return randomBytes(8).toString('hex');
}

export function newVmId(): string {
  return `vm_${randomHex()}`;
}

export function newSessionId(): string {
  return `sess_${randomHex()}`;
}

export function newTaskId(): string {
  return `task_${randomHex()}`;
}
