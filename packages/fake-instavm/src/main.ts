/**
 * Runs the fake InstaVM as its own process, for local runs and for tests that drive it over
 * the /_fake/ control API. Environment: FAKE_INSTAVM_PORT (default 8100), FAKE_INSTAVM_HOST
 * (default 127.0.0.1; docker compose sets 0.0.0.0), FAKE_INSTAVM_API_KEY (optional),
 * FAKE_INSTAVM_CREATE_DELAY_MS (default 0).
 */
import { startFakeInstaVm } from './server.js';

function readPort(value: string | undefined): number {
  const port = Number(value ?? '8100');
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`FAKE_INSTAVM_PORT must be a port number, got ${value}`);
  }
  return port;
}

function readDelayMs(value: string | undefined): number {
  const delay = Number(value ?? '0');
  if (!Number.isFinite(delay) || delay < 0) {
    throw new Error(`FAKE_INSTAVM_CREATE_DELAY_MS must be a number >= 0, got ${value}`);
  }
  return delay;
}

const fake = await startFakeInstaVm({
  port: readPort(process.env.FAKE_INSTAVM_PORT),
  host: process.env.FAKE_INSTAVM_HOST || undefined,
  apiKey: process.env.FAKE_INSTAVM_API_KEY || undefined,
  createDelayMs: readDelayMs(process.env.FAKE_INSTAVM_CREATE_DELAY_MS),
});
// Scripts wait for this exact line to know the fake is ready, and read the URL from it.
process.stdout.write(`fake InstaVM listening on ${fake.url}\n`);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    fake.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
