import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
let children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children) c.kill('SIGKILL');
  children = [];
});

describe('runCluster', () => {
  it("stops, exiting with 1, when a worker's start() throws a ConfigError (a missing key), instead of replacing workers forever", async () => {
    const tsx = pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
    const primary = spawn(process.execPath, ['--import', tsx, join(root, 'test/fixtures/cluster-config-error.ts')], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AIGATEWAY_API_KEY: '' } });
    children.push(primary);
    let out = '';
    let err = '';
    primary.stdout!.on('data', (d) => (out += d));
    primary.stderr!.on('data', (d) => (err += d));
    const timeout = new Promise<'running'>((r) => setTimeout(() => r('running'), 10_000).unref());
    const code = await Promise.race([new Promise<number | null>((r) => primary.once('exit', r)), timeout]);
    // Before, the primary replaced its workers every 50, 100, 200 ms... and never exited.
    expect(code).toBe(1);
    expect(out.match(/fork/g)).toHaveLength(2); // the first two workers, none replaced
    expect(err).toContain('gateway() needs an apiKey (or the AIGATEWAY_API_KEY environment variable)');
    expect(err).toContain("runCluster: a worker's start() failed with the ConfigError above, which restarting cannot fix: stopping every worker");
  }, 20_000);
});
