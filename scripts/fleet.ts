/**
 * `pnpm fleet <command>`: the operator's command line. Reads the environment and `.env`.
 *   workers              list workers (from the admin API: ADMIN_URL or ADMIN_HOST:ADMIN_PORT)
 *   send-test [session]  post a signed run-started delivery (as `pnpm send-test`)
 *   stop <session>       kill the session's worker (a spawner does it; the ingress holds no key)
 *   respawn <session>    queue a spawn for the session (reason: manual)
 *   doctor               check the configuration, Redis and the InstaVM key
 */
import { Command } from 'commander';
import { adminCall, adminClientSettings, sessionPath } from './lib/admin-client.js';
import { loadDotEnv } from './lib/dev-env.js';
import { type Finding, runDoctor } from './lib/doctor.js';
import { sendTestDelivery, sendTestSettings } from './lib/send-test.js';

interface WorkerRow {
  session_id: string;
  status: string;
  vm_id: string | null;
  age_seconds: number;
  error: string | null;
}

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

async function listWorkers(options: { json?: boolean }) {
  const answer = (await adminCall(adminClientSettings(process.env), 'GET', '/workers')) as {
    workers: WorkerRow[];
  };
  if (options.json) return out(JSON.stringify(answer, null, 2));
  if (answer.workers.length === 0) return out('no workers');
  for (const w of answer.workers) {
    const error = w.error ? `  ${w.error}` : '';
    out(`${w.status.padEnd(13)} ${w.session_id}  vm=${w.vm_id ?? '-'}  ${w.age_seconds}s${error}`);
  }
}

async function control(action: 'stop' | 'respawn', sessionId: string) {
  const settings = adminClientSettings(process.env);
  const answer = (await adminCall(settings, 'POST', sessionPath(sessionId, action))) as {
    job_id: string | null;
  };
  out(`${action} queued for ${sessionId} (job ${answer.job_id ?? '?'})`);
}

async function sendTest(sessionId: string | undefined) {
  const sent = await sendTestDelivery(sendTestSettings(process.env), sessionId);
  out(`POST ${sent.url} → ${sent.status} ${sent.body}`);
  if (sent.status < 200 || sent.status >= 300) process.exitCode = 1;
}

const MARK: Record<Finding['level'], string> = {
  ok: 'ok     ',
  warning: 'warning',
  problem: 'PROBLEM',
};

async function doctor() {
  const findings = await runDoctor(process.env);
  for (const finding of findings) out(`${MARK[finding.level]}  ${finding.message}`);
  const problems = findings.filter((f) => f.level === 'problem').length;
  out(problems === 0 ? 'no problem found' : `${problems} problem(s) found`);
  if (problems > 0) process.exitCode = 1;
}

loadDotEnv();
const program = new Command('fleet').description('Operate a CMA worker fleet');
program
  .command('workers')
  .description('list workers')
  .option('--json', 'print the admin API answer as JSON')
  .action(listWorkers);
program
  .command('send-test')
  .argument('[session]', 'session id (default: a fresh test id)')
  .description('post a signed run-started delivery to the ingress')
  .action(sendTest);
program
  .command('stop')
  .argument('<session>', 'session id')
  .description("kill the session's worker VM")
  .action((session: string) => control('stop', session));
program
  .command('respawn')
  .argument('<session>', 'session id')
  .description('queue a spawn for the session')
  .action((session: string) => control('respawn', session));
program.command('doctor').description('check the configuration and services').action(doctor);

program.parseAsync().catch((error: Error) => {
  process.stderr.write(`fleet: ${error.message}\n`);
  process.exit(2);
});
