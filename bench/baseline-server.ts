/**
 * The benchmark's baseline: a bare Node HTTP server that does only what no webhook receiver can
 * skip (read the body, verify the Standard Webhooks signature with the same `standardwebhooks`
 * library as the ingress, parse the JSON, answer). No framework, no queue, no logging, so the
 * ingress's cost over it is the cost of our stack. Environment: PORT, SIGNING_KEY.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

const signingKey = process.env.SIGNING_KEY;
if (!signingKey)
  throw new Error('SIGNING_KEY must be set to the whsec_ key deliveries are signed with');
const webhook = new Webhook(signingKey);

/** The library wants one string per header. */
function header(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(' ') : (value ?? '');
}

function answer(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function handle(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
  try {
    const event = webhook.verify(body, {
      'webhook-id': header(req, 'webhook-id'),
      'webhook-timestamp': header(req, 'webhook-timestamp'),
      'webhook-signature': header(req, 'webhook-signature'),
    }) as { data?: { id?: unknown } };
    answer(res, 200, { ok: true, scheduled: event.data?.id });
  } catch {
    answer(res, 401, { error: 'signature verification failed' });
  }
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => handle(req, Buffer.concat(chunks), res));
});

server.listen(Number(process.env.PORT ?? '0'), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`baseline listening on http://127.0.0.1:${port}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
