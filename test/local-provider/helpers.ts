import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingSandboxTools } from '@cma-fleet/spawner';

const FAKE_ANT = fileURLToPath(new URL('./fixtures/fake-ant.mjs', import.meta.url));

/**
 * Why real sandboxes cannot run here, or undefined when they can. Printed by the tests that
 * skip, so a skip is never silent.
 */
export function sandboxSkipReason(): string | undefined {
  if (process.platform !== 'linux') return `sandboxes need Linux, this is ${process.platform}`;
  const missing = missingSandboxTools(process.env.PATH ?? '');
  if (missing.length > 0)
    return `missing ${missing.join(', ')} (apt-get install bubblewrap socat ripgrep)`;
  const probe = spawnSync('bwrap', [
    '--ro-bind',
    '/',
    '/',
    '--unshare-net',
    '--unshare-pid',
    'true',
  ]);
  if (probe.status !== 0) return `bwrap cannot create namespaces here: ${probe.stderr}`;
  return undefined;
}

/** A directory holding only a fake `ant` (see fixtures/fake-ant.mjs). */
export function fakeAntBin(): string {
  const bin = mkdtempSync(join(tmpdir(), 'cma-fake-ant-'));
  const ant = join(bin, 'ant');
  writeFileSync(ant, `#!/bin/sh\nexec ${process.execPath} ${FAKE_ANT} "$@"\n`);
  chmodSync(ant, 0o755);
  return bin;
}

/** A throwaway CA and a server certificate for `hosts`, made with openssl. */
export function testCertificates(hosts: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'cma-standin-tls-'));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=cma test CA',
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.crt'),
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    `/CN=${hosts[0]}`,
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
  );
  writeFileSync(file('ext'), `subjectAltName=${hosts.map((h) => `DNS:${h}`).join(',')}\n`);
  openssl(
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.crt'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    file('ext'),
    '-out',
    file('server.crt'),
  );
  return {
    caPath: file('ca.crt'),
    key: readFileSync(file('server.key')),
    cert: readFileSync(file('server.crt')),
  };
}

export interface StandIn {
  port: number;
  /** The Authorization header of every request it received. */
  authorizations: string[];
  /** The X-Api-Key header of every request it received. */
  apiKeys: string[];
  close(): Promise<void>;
}

/** An HTTPS server on 127.0.0.1 standing in for an API host; it records what it was sent. */
export async function startStandIn(tls: { key: Buffer; cert: Buffer }): Promise<StandIn> {
  const authorizations: string[] = [];
  const apiKeys: string[] = [];
  const server: Server = createServer(tls, (req, res) => {
    authorizations.push(req.headers.authorization ?? '');
    apiKeys.push(String(req.headers['x-api-key'] ?? ''));
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    authorizations,
    apiKeys,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Points made-up host names at 127.0.0.1 in /etc/hosts (the sandbox runtime's proxy resolves
 * names there), and returns what undoes it. Undefined when /etc/hosts cannot be written.
 */
export function mapHostsToLoopback(names: string[]): (() => void) | undefined {
  const marker = `# cma-fleet test ${randomBytes(4).toString('hex')}`;
  const line = `127.0.0.1 ${names.join(' ')} ${marker}`;
  try {
    const before = readFileSync('/etc/hosts', 'utf8');
    writeFileSync('/etc/hosts', `${before.replace(/\n?$/, '\n')}${line}\n`);
  } catch {
    return undefined;
  }
  return () => {
    const now = readFileSync('/etc/hosts', 'utf8');
    writeFileSync(
      '/etc/hosts',
      now
        .split('\n')
        .filter((l) => !l.includes(marker))
        .join('\n'),
    );
  };
}

/** Resolves once `file` exists, or throws after `timeoutMs`. */
export async function waitForFile(file: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`${file} did not appear within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}.test`;
}
