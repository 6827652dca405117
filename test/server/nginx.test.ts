import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { toneSynthesizer } from '../../src/index';
import { DeepgramEmulator, ElevenLabsEmulator, OpenAiEmulator } from '../../src/testing/index';
import { browserCall } from './call-client';

const haveNginx = spawnSync('nginx', ['-v']).error === undefined;
if (!haveNginx && process.env.CI) throw new Error('CI must install nginx for the load-balancer test');
const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'voxline-nginx-'));
const children: ChildProcess[] = [];
afterAll(async () => {
  // SIGTERM first: a SIGKILLed nginx master leaves its workers running.
  await Promise.all(children.map((c) => new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    const force = setTimeout(() => c.kill('SIGKILL'), 3000);
    c.once('exit', () => (clearTimeout(force), resolve()));
    c.kill('SIGTERM');
  })));
  rmSync(dir, { recursive: true, force: true });
});

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const port = (s.address() as { port: number }).port;
    s.close(() => resolve(port));
  });
});

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<ChildProcess> {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => { out += d; if (ready.test(out)) resolve(child); };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${cmd} exited with ${code}: ${out}`)));
  });
}

describe.skipIf(!haveNginx)('two workers behind a real nginx', () => {
  it('serves 50 concurrent calls, and draining one worker moves new calls to the other with none dropped', async () => {
    const dg = new DeepgramEmulator({ script: ['check my order please'] });
    const oa = new OpenAiEmulator({ timeToFirstTokenMs: 320 });
    const el = new ElevenLabsEmulator({ synthesizer: toneSynthesizer(), timeToFirstAudioMs: 180 });
    await Promise.all([dg.start(), oa.start(), el.start()]);
    try {
      const env = { ...process.env, STT_URL: dg.baseURL, LLM_URL: oa.baseURL, TTS_URL: el.baseURL };
      const tsx = pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
      const [p1, p2, pn] = [await freePort(), await freePort(), await freePort()];
      const w1 = await start(process.execPath, ['--import', tsx, join(root, 'test/fixtures/server-worker.ts'), String(p1)], env, /listening/);
      await start(process.execPath, ['--import', tsx, join(root, 'test/fixtures/server-worker.ts'), String(p2)], env, /listening/);
      mkdirSync(join(dir, 'tmp'));
      writeFileSync(join(dir, 'nginx.conf'), `
${process.getuid?.() === 0 ? 'user root;' : ''}
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp; proxy_temp_path ${dir}/tmp; fastcgi_temp_path ${dir}/tmp; uwsgi_temp_path ${dir}/tmp; scgi_temp_path ${dir}/tmp;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  upstream voxline { server 127.0.0.1:${p1}; server 127.0.0.1:${p2}; }
  server {
    listen 127.0.0.1:${pn};
    location / {
      proxy_pass http://voxline;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
      proxy_next_upstream error timeout http_503 non_idempotent;
    }
  }
}`);
      const nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
      children.push(nginx);
      const base = `http://127.0.0.1:${pn}`;
      for (let i = 0; i < 50; i++) {
        try { if ((await fetch(`${base}/healthz`)).ok) break; } catch { /* not up yet */ }
        await new Promise((r) => setTimeout(r, 100));
      }
      const url = `ws://127.0.0.1:${pn}/browser`;
      // 50 concurrent calls, spread over both workers by nginx.
      const calls = await Promise.all(Array.from({ length: 50 }, async (_, i) => { await new Promise((r) => setTimeout(r, i * 20)); return browserCall(url, 30_000); }));
      for (const c of calls) {
        expect(c.status).toBeUndefined();
        expect(c.transcript).toEqual(['user: check my order please', 'agent: You said: check my order please. How else can I help?']);
        expect(c.audioBytes).toBeGreaterThan(16000);
      }
      // nginx spread them over both workers.
      const served = await Promise.all([p1, p2].map(async (p) => Number(/voxline_calls_total\{channel="browser"\} (\d+)/.exec(await (await fetch(`http://127.0.0.1:${p}/metrics`)).text())?.[1] ?? 0)));
      expect(served[0]! + served[1]!).toBe(50);
      expect(Math.min(...served)).toBeGreaterThan(10);
      // Drain worker 1 while calls are in progress on both; new calls must all land on worker 2.
      const inFlight = Array.from({ length: 6 }, () => browserCall(url, 30_000));
      await new Promise((r) => setTimeout(r, 500));
      w1.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 200));
      const after = await Promise.all(Array.from({ length: 10 }, () => browserCall(url, 30_000)));
      for (const c of [...(await Promise.all(inFlight)), ...after]) expect(c.transcript.length).toBe(2);
      const exit = await new Promise<number | null>((resolve) => (w1.exitCode !== null ? resolve(w1.exitCode) : w1.once('exit', resolve)));
      expect(exit).toBe(0); // drained and exited on its own
    } finally {
      await Promise.all([dg.close(), oa.close(), el.close()]);
    }
  }, 120_000);
});

describe('runCluster', () => {
  it('runs one worker per requested core on a shared port, and stops them all on SIGTERM', async () => {
    const port = await freePort();
    const tsx = pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
    const primary = spawn(process.execPath, ['--import', tsx, join(root, 'test/fixtures/cluster-primary.ts'), String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(primary);
    let out = '';
    primary.stdout!.on('data', (d) => (out += d));
    for (let i = 0; i < 100 && (out.match(/listening/g) ?? []).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    const pids = new Set([...out.matchAll(/worker (\d+) listening/g)].map((m) => m[1]));
    expect(pids.size).toBe(2);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    primary.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => primary.once('exit', resolve));
    expect(code).toBe(0);
  }, 30_000);
});
