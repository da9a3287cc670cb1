import { describe, expect, it } from 'vitest';
import { retryAfterMs } from './client.js';
import { routes } from './routes.js';
import { isVmAlive } from './types.js';

// The client's HTTP behaviour is tested against the fake InstaVM server, in
// packages/fake-instavm/src/client-against-fake.test.ts; these are its pure parts.

describe('retryAfterMs', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');

  it('reads seconds', () => {
    expect(retryAfterMs('2', now)).toBe(2000);
    expect(retryAfterMs('0.5', now)).toBe(500);
  });

  it('reads an HTTP date as the time left until it', () => {
    expect(retryAfterMs('Tue, 01 Jan 2030 00:00:30 GMT', now)).toBe(30_000);
  });

  it('never gives a negative wait', () => {
    expect(retryAfterMs('-5', now)).toBe(0);
    expect(retryAfterMs('Mon, 31 Dec 2029 23:00:00 GMT', now)).toBe(0);
  });

  it('is undefined when the header is absent, blank or unreadable', () => {
    expect(retryAfterMs(undefined, now)).toBeUndefined();
    expect(retryAfterMs(' ', now)).toBeUndefined();
    expect(retryAfterMs('soon', now)).toBeUndefined();
  });
});

describe('routes', () => {
  it('encodes ids into paths so an odd id cannot reach another endpoint', () => {
    expect(routes.getVm('a/../b')).toBe('/v1/vms/a%2F..%2Fb');
    expect(routes.setVmEgress('vm 1')).toBe('/v1/egress/vm/vm%201');
  });

  it('sends the metadata filter as encoded JSON', () => {
    const path = routes.listVms({ fleet: 'cma&x=1' });

    const query = new URL(path, 'http://x').searchParams;
    expect(JSON.parse(query.get('metadata') ?? '')).toEqual({ fleet: 'cma&x=1' });
    expect(query.get('limit')).toBe('1000');
  });
});

describe('isVmAlive', () => {
  it('counts live statuses, whatever their case, and nothing else', () => {
    expect(isVmAlive({ vm_id: 'a', session_id: 's', status: 'Running' })).toBe(true);
    expect(isVmAlive({ vm_id: 'a', session_id: 's', status: 'stopped' })).toBe(false);
    expect(isVmAlive(undefined)).toBe(false);
  });
});
