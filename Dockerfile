# syntax=docker/dockerfile:1
# One Dockerfile, one target per program:
#   docker build --target ingress -t cma-fleet-ingress .        (the default target)
#   docker build --target spawner -t cma-fleet-spawner .
#   docker build --target fake-instavm -t cma-fleet-fake-instavm .
# The runtime layout is made by scripts/build-runtime.sh, which test/deploy/runtime-layout.test.ts
# also runs (no Docker engine on the CI machines), so the test proves what the image holds.

ARG NODE_IMAGE=node:20-slim

# --- build: the whole workspace, installed from the lockfile -------------------------------------
FROM ${NODE_IMAGE} AS build
RUN npm install -g pnpm@10.34.9
WORKDIR /repo
COPY . .
RUN pnpm install --frozen-lockfile

FROM build AS build-ingress
RUN scripts/build-runtime.sh /out ingress

FROM build AS build-spawner
RUN scripts/build-runtime.sh /out spawner

FROM build AS build-fake-instavm
RUN scripts/build-runtime.sh /out fake-instavm

# --- runtime: Node, tini, the layout, nothing else ------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: Node as PID 1 would not get default signal handling, so SIGTERM from `docker
# stop` must be forwarded for the apps' graceful shutdown to run.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
# The files belong to root and the process runs as `node`: the app cannot rewrite its own code.
USER node
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/main.js"]

FROM runtime AS fake-instavm
COPY --from=build-fake-instavm /out/fake-instavm /app
ENV FAKE_INSTAVM_HOST=0.0.0.0 FAKE_INSTAVM_PORT=8100
EXPOSE 8100
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "healthcheck.mjs", "fake-instavm"]

# The spawner's only port is its liveness check (not published); see scripts/healthcheck.mjs.
FROM runtime AS spawner
COPY --from=build-spawner /out/spawner /app
ENV SPAWNER_HEALTH_PORT=8002
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "healthcheck.mjs", "spawner"]

FROM runtime AS ingress
COPY --from=build-ingress /out/ingress /app
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "healthcheck.mjs", "ingress"]
