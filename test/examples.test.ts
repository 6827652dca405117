import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const cwd = mkdtempSync(join(tmpdir(), 'voxline-examples-'));
afterAll(() => rmSync(cwd, { recursive: true, force: true }));
const run = (file: string) =>
  promisify(execFile)(process.execPath, ['--import', pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href, join(root, 'examples', file)], {
    cwd,
    env: { ...process.env, TSX_TSCONFIG_PATH: join(root, 'tsconfig.json'), NODE_PATH: join(root, 'node_modules') },
    timeout: 60_000,
  });

describe('the examples that run offline', () => {
  it('stages-by-hand: transcribes a WAV, answers, and speaks the answer into a WAV', async () => {
    const { stdout } = await run('stages-by-hand.ts');
    expect(stdout).toContain('heard: Hello is anybody there');
    expect(existsSync(join(cwd, 'answer.wav'))).toBe(true);
  }, 60_000);

  it('flux: an eager end of turn, the turn resumed, then the end of turn with the eager transcript', async () => {
    const { stdout } = await run('flux.ts');
    expect(stdout.trim().split('\n')).toEqual([
      'start of turn (barge in now)',
      'eager end of turn: "I want to" (prepare the reply, play nothing yet)',
      'turn resumed (drop the prepared reply)',
      'eager end of turn: "I want to cancel my plan" (prepare the reply, play nothing yet)',
      'end of turn: "I want to cancel my plan"',
    ]);
  }, 60_000);

  it('cartesia: a reply cut off by a barge-in, the words heard from Cartesia timestamps, then the next reply', async () => {
    const { stdout } = await run('cartesia.ts');
    const heard = /heard before the barge-in: "([^"]*)"/.exec(stdout)?.[1];
    expect(heard?.split(' ').length).toBeGreaterThan(1);
    expect('Our shop opens at nine in the morning and closes at six.'.startsWith(heard!)).toBe(true);
    expect(existsSync(join(cwd, 'cartesia.wav'))).toBe(true);
  }, 60_000);

  it('realtime-agent: a realtime model greets, calls the tool, answers with its result and hangs up', async () => {
    const { stdout } = await run('realtime-agent.ts');
    expect(stdout).toContain('tool:   lookup_order({"order_id":"4417"})');
    const transcript = stdout.split('\n').filter((l) => /^(user|agent) /.test(l));
    expect(transcript).toEqual([
      'agent Hi! How can I help?',
      'user  Hello there',
      'agent Hello! How can I help you today?',
      'user  Where is order 4417 now',
      'agent I checked that for you: order id 4417, status shipped, arriving Thursday. Is there anything else?',
      'user  Thanks that is all goodbye',
      'agent Goodbye!',
    ]);
  }, 60_000);
});
