import { describe, expect, it } from 'vitest';
import { InstaVmHttpError, InstaVmTransportError } from './errors.js';

describe('InstaVmHttpError', () => {
  it('shows a string detail and leaves the query string out of the message', () => {
    const error = new InstaVmHttpError(
      'GET',
      '/v1/vms?limit=1000&metadata=%7B%7D',
      401,
      '{"detail":"Invalid API key"}',
      undefined,
    );

    expect(error.message).toBe('InstaVM GET /v1/vms answered 401: Invalid API key');
  });

  it('shows a validation detail list as JSON', () => {
    const body = JSON.stringify({ detail: [{ loc: ['body', 'memory_mb'], msg: 'too small' }] });

    const error = new InstaVmHttpError('POST', '/v1/vms', 422, body, undefined);

    expect(error.message).toContain('"loc":["body","memory_mb"]');
  });

  it('shows the start of a body that is not JSON, and says when there was none', () => {
    const page = `<html>${'x'.repeat(1000)}</html>`;

    const proxyPage = new InstaVmHttpError('GET', '/v1/vms/a', 502, page, undefined);
    const empty = new InstaVmHttpError('GET', '/v1/vms/a', 502, '', undefined);

    expect(proxyPage.message).toContain('<html>xxx');
    expect(proxyPage.message.length).toBeLessThan(400);
    expect(empty.message).toContain('(empty body)');
  });
});

describe('InstaVmTransportError', () => {
  it('names the kind and keeps the cause', () => {
    const cause = new Error('connect ECONNREFUSED');

    const error = new InstaVmTransportError('POST', '/v1/vms?wait=true', 'refused', false, cause);

    expect(error.message).toBe('InstaVM POST /v1/vms failed: refused');
    expect(error.cause).toBe(cause);
    expect(error.requestSent).toBe(false);
  });
});
