import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LivenessReport } from './liveness.js';

export interface RunningHealthServer {
  url: string;
  close(): Promise<void>;
}

/**
 * `GET /health` for the spawner's orchestrator: 200 while it consumes, 503 with the reason when
 * it does not. Unauthenticated on purpose (it reveals counts only), like the ingress's /health.
 */
export async function startHealthServer(
  port: number,
  host: string,
  check: () => Promise<LivenessReport>,
): Promise<RunningHealthServer> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/health') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    check().then(
      (report) =>
        res
          .writeHead(report.healthy ? 200 : 503, { 'content-type': 'application/json' })
          .end(JSON.stringify({ ok: report.healthy, ...report })),
      () => res.writeHead(503).end('{"ok":false}'),
    );
  });
  await listen(server, port, host);
  const address = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    url: `http://${shownHost}:${address.port}/health`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}
