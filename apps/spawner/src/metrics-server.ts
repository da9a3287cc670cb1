import { createServer } from 'node:http';
import { carriesAdminToken, type Logger, type SpawnerMetrics } from '@cma-fleet/shared';
import { listenOn } from './small-server.js';

export interface MetricsServerSettings {
  /** Undefined: the endpoint is off. 0: any free port. */
  port: number | undefined;
  host: string;
  /** Undefined: not served (fail closed), with a warning saying what to set. */
  token: string | undefined;
}

export interface RunningMetricsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * The spawner's `GET /metrics` for Prometheus, behind the same ADMIN_TOKEN as the ingress's
 * operator view. Each spawner replica is scraped on its own (a registry per process).
 */
export async function startMetricsServer(
  settings: MetricsServerSettings,
  metrics: SpawnerMetrics,
  logger: Logger,
): Promise<RunningMetricsServer | undefined> {
  if (settings.port === undefined) return undefined;
  const token = settings.token;
  if (!token) {
    logger.warn('SPAWNER_METRICS_PORT is set but ADMIN_TOKEN is not: metrics are not served');
    return undefined;
  }
  const server = createServer((req, res) => {
    if (!carriesAdminToken(req.headers.authorization, token)) {
      res.writeHead(401, { 'www-authenticate': 'Bearer' }).end('operator token required\n');
      return;
    }
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => res.writeHead(500).end('metrics unavailable\n'),
    );
  });
  const listening = await listenOn(server, settings.port, settings.host);
  return { url: `${listening.baseUrl}/metrics`, close: listening.close };
}
