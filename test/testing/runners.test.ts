import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');

describe('TextSession assertions outside vitest', () => {
  it('work under node:test: a passing turn passes, a failing one reports the events', async () => {
    const run = promisify(execFile)(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', join(root, 'test/fixtures/text-session.node-test.ts')], { cwd: root, timeout: 60_000 });
    const err = (await run.then(() => undefined, (e: unknown) => e)) as { code: number; stdout: string } | undefined;
    expect(err?.code).toBe(1); // one test fails on purpose
    const out = err!.stdout;
    expect(out).toMatch(/✔ passes: the agent looks the order up/);
    expect(out).toMatch(/✖ fails on purpose: a wrong order number/);
    expect(out).toContain("Expected event #0 to be a tool call to lookup_order with arguments matching { order_id: 'B-2' }");
    expect(out).toContain("> #0 tool_call lookup_order { order_id: 'A-17' }");
    expect(out).toMatch(/AssertionError/);
  }, 60_000);
});
