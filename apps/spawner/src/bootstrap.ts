/** Quotes a value for a POSIX shell. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Installs `ant` from its GitHub release unless the image already has it. Runs while the VM's
 * egress still allows the release hosts (see `installEgressDomains`).
 */
export function installAntScript(version: string): string {
  const release = `https://github.com/anthropics/anthropic-cli/releases/download/v${version}`;
  return [
    'set -eu',
    'if command -v ant >/dev/null 2>&1; then echo "ant already installed"; exit 0; fi',
    'case "$(uname -m)" in x86_64|amd64) arch=amd64;; aarch64|arm64) arch=arm64;;',
    '  *) echo "unsupported architecture $(uname -m)" >&2; exit 1;; esac',
    `url=${shellQuote(release)}/ant_${version}_linux_\${arch}.tar.gz`,
    'tmp=$(mktemp -d)',
    'if command -v curl >/dev/null 2>&1; then curl -fsSL --retry 3 -o "$tmp/ant.tgz" "$url";',
    'else wget -q -O "$tmp/ant.tgz" "$url"; fi',
    'tar -xzf "$tmp/ant.tgz" -C "$tmp"',
    'install -m 0755 "$(find "$tmp" -type f -name ant | head -n 1)" /usr/local/bin/ant',
    'rm -rf "$tmp"',
    'ant --version',
  ].join('\n');
}

/** The hosts the install step downloads from; allowed only until the worker starts. */
export const installEgressDomains = [
  'github.com',
  'objects.githubusercontent.com',
  'release-assets.githubusercontent.com',
];

export interface WorkerCommand {
  workdir: string;
  maxIdle: string;
}

/**
 * The poller's arguments after `ant`, the one list every provider starts a worker with:
 * `beta:worker poll --workdir <workdir> --max-idle <maxIdle>`.
 */
export function workerPollArgs(command: WorkerCommand): string[] {
  return ['beta:worker', 'poll', '--workdir', command.workdir, '--max-idle', command.maxIdle];
}

/**
 * Starts `ant beta:worker poll` detached (nohup, own session) so the execution's time cap does
 * not end it. When the poller exits (idle, error, signal) the VM powers itself off, so the
 * provider reports it gone and the next run of the session gets a fresh worker. A marker
 * directory makes a retried start a no-op: one poller per VM. Credentials come from the VM's
 * environment (placeholders), never from this command line.
 */
export function startWorkerScript(command: WorkerCommand): string {
  // A fixed inner script; the settings reach it as quoted positional arguments.
  const pollArgs = workerPollArgs({ workdir: '"$1"', maxIdle: '"$2"' }).join(' ');
  const poll = `ant ${pollArgs} >> /tmp/cma-worker.log 2>&1`;
  const onExit = 'echo $? > /tmp/cma-worker.exit; sync; poweroff -f 2>/dev/null || halt -f';
  const args = [command.workdir, command.maxIdle].map(shellQuote).join(' ');
  return [
    'set -eu',
    `mkdir -p ${shellQuote(command.workdir)}`,
    'if ! mkdir /tmp/cma-worker.started 2>/dev/null; then echo "worker already started"; exit 0; fi',
    `cd ${shellQuote(command.workdir)}`,
    `nohup setsid sh -c '${poll}; ${onExit}' cma-worker ${args} >/dev/null 2>&1 &`,
    'echo "worker started"',
  ].join('\n');
}
