#!/usr/bin/env sh
# Builds the runtime file layout of one or more programs: <outdir>/<app> holds the compiled dist/
# of the app and of every workspace package it imports, production dependencies only, and no
# TypeScript sources.
#
#   scripts/build-runtime.sh <outdir> <ingress|spawner|fake-instavm>...
#
# The Dockerfile runs exactly this script, and test/deploy/runtime-layout.test.ts runs it into a
# temporary folder and starts the programs from there, so the test proves the image's layout.
# Needs `pnpm install --frozen-lockfile` done first (the store then has every package).
set -eu

usage() {
  echo "usage: $0 <outdir> <ingress|spawner|fake-instavm>..." >&2
  exit 2
}

[ $# -ge 2 ] || usage
out="$1"
shift
case "$out" in
  /*) ;;
  *) out="$PWD/$out" ;;
esac
filters=""
for app in "$@"; do
  case "$app" in
    ingress | spawner | fake-instavm) ;;
    *) usage ;;
  esac
  if [ -e "$out/$app" ]; then
    echo "$out/$app already exists" >&2
    exit 2
  fi
  filters="$filters --filter @cma-fleet/$app..."
done

cd "$(dirname "$0")/.."

# The apps and their workspace dependencies, dependencies first, each package once. A stale
# dist/ could hold a module whose source was deleted, so each is cleaned before it compiles.
# shellcheck disable=SC2086 # $filters is a list of words on purpose.
pnpm $filters exec rm -rf dist
# shellcheck disable=SC2086
pnpm $filters run build

for app in "$@"; do
  dest="$out/$app"
  # --legacy: pnpm 10 otherwise deploys only from workspaces with inject-workspace-packages,
  # which would make every local install copy the packages instead of linking them.
  # --prefer-offline: the install before this filled the store with every package, but a legacy
  # deploy also reads each package's registry metadata, which a frozen-lockfile install never
  # fetched; only that is taken from the registry, and only when this machine has not cached it.
  pnpm --filter "@cma-fleet/$app" deploy --legacy --prod --prefer-offline "$dest"

  # pnpm hoists a link to the deployed package itself, pointing back into the workspace:
  # dangling in an image, and a path into the repository anywhere else. Links stay inside.
  dest_real=$(cd "$dest" && pwd -P)
  find "$dest" -type l | while read -r link; do
    case "$(readlink -f "$link" || true)" in
      "$dest_real"/*) ;;
      *) rm "$link" ;;
    esac
  done

  # Production runs dist/ (the "default" export condition); sources and build configs stay
  # out, which also proves nothing reaches for them. Only real directories, never via a link.
  for pkg in "$dest" "$dest"/node_modules/.pnpm/@cma-fleet+*/node_modules/@cma-fleet/*; do
    if [ -d "$pkg" ] && [ ! -L "$pkg" ]; then
      rm -rf "$pkg/src" "$pkg"/tsconfig*.json
    fi
  done
  cp scripts/healthcheck.mjs "$dest/healthcheck.mjs"
done
