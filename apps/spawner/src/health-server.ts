import { createServer } from 'node:http';
import type { LivenessReport } from './liveness.js';
import { listenOn } from './small-server.js';

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
  const listening = await listenOn(server, port, host);
  return { url: `${listening.baseUrl}/health`, close: listening.close };
}
