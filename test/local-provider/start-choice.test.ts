import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { chooseLocalProvider } from '../../scripts/lib/local-provider.js';
import { fakeAntBin, sandboxSkipReason } from './helpers.js';

const skipReason = sandboxSkipReason();
if (skipReason) console.warn(`SKIPPED pnpm start provider choice tests: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('pnpm start without INSTAVM_API_KEY', () => {
  const bin = fakeAntBin();
  const empty = mkdtempSync(`${tmpdir()}/cma-no-ant-`);
  afterAll(() => {
    rmSync(bin, { recursive: true, force: true });
    rmSync(empty, { recursive: true, force: true });
  });

  it('runs real workers on this machine when ant and the sandbox tools are on PATH', () => {
    const choice = chooseLocalProvider({ PATH: `${bin}:${process.env.PATH}` });
    expect(choice.use).toBe(true);
    expect(choice.env).toMatchObject({ SANDBOX_PROVIDER: 'local' });
    expect(choice.env.LOCAL_RUNTIME_DIR).toMatch(/\.fleet\/workers$/);
    expect(choice.lines.join('\n')).toContain('ant beta:worker poll --workdir');
  });

  it('without ant says how to install it and what each worker would run', () => {
    const choice = chooseLocalProvider({ PATH: `${empty}:/usr/bin:/bin` });
    expect(choice.use).toBe(false);
    const text = choice.lines.join('\n');
    expect(text).toContain('`ant` is not on PATH');
    expect(text).toContain('https://github.com/anthropics/anthropic-cli/releases');
    expect(text).toContain('ant beta:worker poll --workdir <its own work dir> --max-idle 30s');
  });

  it('without bubblewrap names the packages to install', () => {
    const choice = chooseLocalProvider({ PATH: bin });
    expect(choice.use).toBe(false);
    expect(choice.lines.join('\n')).toContain('apt-get install bubblewrap socat ripgrep');
  });

  it('keeps InstaVM when its key is set, and an explicit SANDBOX_PROVIDER wins', () => {
    const path = `${bin}:${process.env.PATH}`;
    expect(chooseLocalProvider({ PATH: path, INSTAVM_API_KEY: 'instavm_sk_x' }).use).toBe(false);
    expect(chooseLocalProvider({ PATH: path, SANDBOX_PROVIDER: 'instavm' }).use).toBe(false);
    const forced = { PATH: path, INSTAVM_API_KEY: 'instavm_sk_x', SANDBOX_PROVIDER: 'local' };
    expect(chooseLocalProvider(forced).use).toBe(true);
  });

  it('keeps a real key given in the environment and never invents one that looks real', () => {
    const path = `${bin}:${process.env.PATH}`;
    expect(chooseLocalProvider({ PATH: path }).env.ANTHROPIC_ENVIRONMENT_KEY).toBe(
      'environment-key-not-set',
    );
    const given = chooseLocalProvider({ PATH: path, ANTHROPIC_ENVIRONMENT_KEY: 'sk-ant-oat01-x' });
    expect(given.env.ANTHROPIC_ENVIRONMENT_KEY).toBeUndefined();
  });
});
