import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A listening side server (health, metrics): where to reach it, and how to stop it. */
export interface ListeningServer {
  /** Base URL; a wildcard host is shown as loopback. */
  baseUrl: string;
  close(): Promise<void>;
}

/** Listens on `host:port` (0: any free port) and resolves once it does. */
export async function listenOn(
  server: Server,
  port: number,
  host: string,
): Promise<ListeningServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
    server.listen(port, host);
  });
  const address = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    baseUrl: `http://${shownHost}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
