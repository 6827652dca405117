import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');

describe('scriptedReplies', () => {
  it('fails the test that runs out of replies, though the test asserts nothing about it (node:test)', async () => {
    const run = promisify(execFile)(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', join(root, 'test/fixtures/scripted-replies-exhausted.node-test.ts')], { cwd: root, timeout: 60_000 });
    const err = (await run.then(() => undefined, (e: unknown) => e)) as { code: number; stdout: string } | undefined;
    expect(err?.code).toBe(1);
    expect(err!.stdout).toMatch(/✖ two turns, one scripted reply/);
    expect(err!.stdout).toContain('ConfigError');
    expect(err!.stdout).toContain('scriptedReplies: no reply left for request 2 (1 scripted); last message: {"role":"user","content":"Where is my order?"}');
  }, 60_000);
});
