// The container health check: `node healthcheck.mjs <ingress|spawner|fake-instavm>`, exit 0 when
// healthy. Plain JavaScript so it runs in the runtime image as is (no tsx, no build), reading
// the same environment as the app.
//
// - ingress: GET /health on the app's port, which answers 200 only while Redis answers.
// - spawner: GET /health on SPAWNER_HEALTH_PORT (the image sets it), which fails when jobs wait
//   and this spawner takes none. Without that port, the next best thing: a Redis PING through
//   REDIS_URL. A crashed spawner needs no check: tini exits with it and the restart policy
//   brings the container back.
// - fake-instavm: its control API answers.

const TIMEOUT_MS = 3000;

async function httpOk(url) {
  const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  return response.ok;
}

async function redisAnswers(url) {
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: TIMEOUT_MS,
    commandTimeout: TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } finally {
    redis.disconnect();
  }
}

const checks = {
  ingress: () => httpOk(`http://127.0.0.1:${process.env.PORT || '8000'}/health`),
  spawner: () =>
    process.env.SPAWNER_HEALTH_PORT
      ? httpOk(`http://127.0.0.1:${process.env.SPAWNER_HEALTH_PORT}/health`)
      : redisAnswers(process.env.REDIS_URL ?? ''),
  'fake-instavm': () =>
    httpOk(`http://127.0.0.1:${process.env.FAKE_INSTAVM_PORT || '8100'}/_fake/vms`),
};

const check = checks[process.argv[2] ?? ''];
if (!check) {
  process.stderr.write('usage: node healthcheck.mjs <ingress|spawner|fake-instavm>\n');
  process.exit(2);
}
check().then(
  (healthy) => process.exit(healthy ? 0 : 1),
  (error) => {
    process.stderr.write(`unhealthy: ${error instanceof Error ? error.message : error}\n`);
    process.exit(1);
  },
);
