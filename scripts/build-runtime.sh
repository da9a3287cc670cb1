#!/usr/bin/env sh
# Builds the runtime file layout of one app into <outdir>: compiled dist/ of the app and of every
# workspace package it imports, production dependencies only, no TypeScript sources.
#
#   scripts/build-runtime.sh <ingress|spawner|fake-instavm> <outdir>
#
# The Dockerfile runs exactly this script, and test/deploy/runtime-layout.test.ts runs it into a
# temporary folder and starts the apps from there, so the test proves the image's layout.
# Needs `pnpm install --frozen-lockfile` done first (the store then has every package).
set -eu

app="${1:-}"
out="${2:-}"
case "$app" in
  ingress | spawner | fake-instavm) ;;
  *)
    echo "usage: $0 <ingress|spawner|fake-instavm> <outdir>" >&2
    exit 2
    ;;
esac
if [ -z "$out" ]; then
  echo "usage: $0 <ingress|spawner|fake-instavm> <outdir>" >&2
  exit 2
fi
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
  echo "$out exists and is not empty" >&2
  exit 2
fi

cd "$(dirname "$0")/.."
package="@cma-fleet/$app"

# The app and its workspace dependencies, dependencies first. A stale dist/ could hold a module
# whose source was deleted, so each is cleaned before it compiles.
pnpm --filter "$package..." exec rm -rf dist
pnpm --filter "$package..." run build

# --legacy: pnpm 10 otherwise deploys only from workspaces with inject-workspace-packages, which
# would make every local install copy the packages instead of linking them. --offline: the
# install before this filled the store, and an image build should not resolve anything anew.
pnpm --filter "$package" deploy --legacy --prod --offline "$out"

# pnpm hoists a link to the deployed package itself, pointing back into the workspace: dangling
# in an image, and a path into the repository anywhere else. Every link must stay inside $out.
out_real=$(cd "$out" && pwd -P)
find "$out" -type l | while read -r link; do
  case "$(readlink -f "$link" || true)" in
    "$out_real"/*) ;;
    *) rm "$link" ;;
  esac
done

# Production runs dist/ (the "default" export condition); sources and build configs stay out,
# which also proves nothing reaches for them. Only real directories: never through a link.
for pkg in "$out" "$out"/node_modules/.pnpm/@cma-fleet+*/node_modules/@cma-fleet/*; do
  if [ -d "$pkg" ] && [ ! -L "$pkg" ]; then
    rm -rf "$pkg/src" "$pkg"/tsconfig*.json
  fi
done
cp scripts/healthcheck.mjs "$out/healthcheck.mjs"
