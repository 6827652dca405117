// `voxline doctor`: what this machine has for voxline, one line per check with what to do.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { loadEspeak } from '../tts/speech';

/** How `voxline doctor` runs. */
export interface DoctorOptions {
  /** The environment to read keys and base URLs from (names are printed, never values). */
  env: NodeJS.ProcessEnv;
  /** How long each provider handshake may take, in milliseconds. */
  timeoutMs: number;
  /** Where the report goes, line by line. */
  write: (text: string) => void;
}

/** One finding: ok, worth knowing, or something that stops voxline from working. */
export interface Finding { level: 'ok' | 'note' | 'problem'; text: string }

const MARK = { ok: '✓', note: '-', problem: '✗' } as const;

/** A provider endpoint and how to knock on its door without spending anything. */
interface Endpoint {
  name: string;
  key: string;
  base: string;
  fallback: string;
  /** `ws`: open the streaming socket and close it before any audio or text; `http`: list the models. */
  kind: 'ws' | 'http';
  path: (env: NodeJS.ProcessEnv) => string;
  headers: (key: string) => Record<string, string>;
}

const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });

const ENDPOINTS: Endpoint[] = [
  { name: 'the gateway', key: 'AIGATEWAY_API_KEY', base: 'AIGATEWAY_BASE_URL', fallback: 'https://api.aigateway.sh/v1', kind: 'ws', path: () => '/audio/transcriptions/stream?model=deepgram%2Fnova-3', headers: bearer },
  { name: 'Deepgram', key: 'DEEPGRAM_API_KEY', base: 'DEEPGRAM_BASE_URL', fallback: 'wss://api.deepgram.com/v1', kind: 'ws', path: () => '/listen?model=nova-3&encoding=linear16&sample_rate=16000', headers: (key) => ({ Authorization: `Token ${key}` }) },
  { name: 'the OpenAI-compatible LLM', key: 'OPENAI_API_KEY', base: 'OPENAI_BASE_URL', fallback: 'https://api.openai.com/v1', kind: 'http', path: () => '/models', headers: bearer },
  { name: 'ElevenLabs', key: 'ELEVENLABS_API_KEY', base: 'ELEVENLABS_BASE_URL', fallback: 'wss://api.elevenlabs.io/v1', kind: 'ws', path: (env) => `/text-to-speech/${encodeURIComponent(env.ELEVENLABS_VOICE_ID ?? '21m00Tcm4TlvDq8ikWAM')}/stream-input?output_format=pcm_16000`, headers: (key) => ({ 'xi-api-key': key }) },
  { name: 'Cartesia', key: 'CARTESIA_API_KEY', base: 'CARTESIA_BASE_URL', fallback: 'wss://api.cartesia.ai', kind: 'ws', path: () => '/tts/websocket', headers: (key) => ({ ...bearer(key), 'Cartesia-Version': '2026-08-14' }) },
];

/** The other variables voxline's demo and examples read. */
const SETTINGS = ['LLM_MODEL', 'ELEVENLABS_VOICE_ID', 'CARTESIA_VOICE_ID', 'OPENAI_ORG_ID', 'OPENAI_PROJECT_ID', 'TWILIO_AUTH_TOKEN', 'PUBLIC_HOST'];

function nodeCheck(): Finding {
  const major = Number(process.versions.node.split('.')[0]);
  return major >= 20
    ? { level: 'ok', text: `Node.js ${process.versions.node} (voxline needs 20 or newer)` }
    : { level: 'problem', text: `Node.js ${process.versions.node} is too old: voxline needs 20 or newer (https://nodejs.org, or nvm install 20)` };
}

/** Whether `program` runs (its `--version`), without a shell. */
function has(program: string): boolean {
  const r = spawnSync(program, ['--version'], { stdio: 'ignore', timeout: 5000 });
  return !r.error;
}

function audioChecks(): Finding[] {
  const install = process.platform === 'darwin' ? 'brew install sox' : 'sudo apt-get install sox (or your system\'s package)';
  const out: Finding[] = [];
  out.push(has('sox')
    ? { level: 'ok', text: 'SoX is installed: soxMic() and soxSpeaker() (and `voxline demo --mic`) can use your microphone and speaker' }
    : { level: 'note', text: `SoX is not installed: needed only for your own microphone and speaker (soxMic, soxSpeaker, \`voxline demo --mic\`): ${install}` });
  if (process.platform === 'linux') {
    let cards: string[] = [];
    try {
      cards = readFileSync('/proc/asound/cards', 'utf8').split('\n').filter((l) => /^\s*\d+ \[/.test(l)).map((l) => l.replace(/^\s*\d+ \[([^\]]*)\].*$/, '$1').trim());
    } catch {
      // no ALSA in this kernel or container
    }
    out.push(cards.length
      ? { level: 'ok', text: `sound cards: ${cards.join(', ')} (pick one with the \`device\` option, e.g. soxMic({ device: 'hw:0' }))` }
      : { level: 'note', text: 'no sound card found (a server or a container): use files, phone calls or browsers for audio (docs/adapters.md), or the demo\'s scripted caller' });
  } else if (process.platform === 'darwin') {
    out.push({ level: 'ok', text: 'audio devices: SoX uses the system default input and output (change them in System Settings > Sound)' });
  }
  return out;
}

async function espeakCheck(): Promise<Finding> {
  return (await loadEspeak())
    ? { level: 'ok', text: 'espeak-ng is installed: the demo, LocalTts and the emulators speak with eSpeak NG' }
    : { level: 'note', text: 'espeak-ng is not installed: the demo and the emulators use a tone voice, LocalTts cannot speak. For real offline speech: npm install espeak-ng (GPL-3.0)' };
}

function envChecks(env: NodeJS.ProcessEnv): Finding[] {
  const keys = ENDPOINTS.map((e) => e.key).filter((k) => env[k]);
  const settings = [...ENDPOINTS.map((e) => e.base), ...SETTINGS].filter((k) => env[k]);
  return [
    keys.length
      ? { level: 'ok', text: `keys set: ${keys.join(', ')}` }
      : { level: 'note', text: `no provider key set: \`voxline demo\` runs on the local emulators. For real providers set AIGATEWAY_API_KEY (one key for all three stages), or DEEPGRAM_API_KEY, OPENAI_API_KEY and ELEVENLABS_API_KEY` },
    ...(settings.length ? [{ level: 'ok' as const, text: `settings set: ${settings.join(', ')}` }] : []),
  ];
}

/** `wss://` for `https://` and `ws://` for `http://` (the socket form of a base URL), and back. */
function withScheme(url: string, kind: 'ws' | 'http'): string {
  return kind === 'ws' ? url.replace(/^http(s?):/, 'ws$1:') : url.replace(/^ws(s?):/, 'http$1:');
}

type Answer = { ms: number; status?: number; error?: string };

/** Opens the socket and closes it at once: an upgrade, nothing sent, nothing billed. */
function wsHandshake(url: string, headers: Record<string, string>, timeoutMs: number): Promise<Answer> {
  const started = performance.now();
  const ms = () => performance.now() - started;
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: timeoutMs });
    ws.once('open', () => {
      resolve({ ms: ms(), status: 101 });
      ws.close(1000);
    });
    ws.once('unexpected-response', (req, res) => {
      resolve({ ms: ms(), status: res.statusCode ?? 0 });
      res.resume();
      req.destroy();
    });
    ws.once('error', (err: NodeJS.ErrnoException) => resolve({ ms: ms(), error: /handshake has timed out/.test(err.message) ? 'timeout' : err.code ?? err.message }));
  });
}

/** Lists the models: free, and it checks the key. */
async function httpHandshake(url: string, headers: Record<string, string>, timeoutMs: number): Promise<Answer> {
  const started = performance.now();
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return { ms: performance.now() - started, status: res.status };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return { ms: performance.now() - started, error: e.name === 'TimeoutError' ? 'timeout' : e.cause?.code ?? e.message };
  }
}

async function endpointCheck(e: Endpoint, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Finding> {
  const key = env[e.key]!;
  const raw = env[e.base] || e.fallback;
  let base: URL;
  try {
    base = new URL(withScheme(raw, e.kind));
  } catch {
    return { level: 'problem', text: `${e.name}: ${e.base} is not a URL: set it to the scheme, host and path up to the API version (e.g. ${e.fallback})` };
  }
  const where = `${base.host}${env[e.base] ? ` (${e.base})` : ''}`;
  const url = `${base.href.replace(/\/$/, '')}${e.path(env)}`;
  const a = await (e.kind === 'ws' ? wsHandshake(url, e.headers(key), timeoutMs) : httpHandshake(url, e.headers(key), timeoutMs));
  const took = `${a.ms.toFixed(0)} ms`;
  if (a.error === 'timeout') return { level: 'problem', text: `${e.name} at ${where}: no answer within ${timeoutMs} ms: check your network, proxy or firewall${env[e.base] ? `, and ${e.base}` : ''}` };
  if (a.error) return { level: 'problem', text: `${e.name} at ${where}: unreachable (${a.error}): check your network${env[e.base] ? ` and ${e.base}` : ''}` };
  if (a.status === 101 || a.status === 200) return { level: 'ok', text: `${e.name} at ${where} answers and accepts ${e.key} (${took})` };
  if (a.status === 401 || a.status === 403) return { level: 'problem', text: `${e.name} at ${where} refuses ${e.key} (HTTP ${a.status}): check the key in the provider's dashboard, and that it has access to this API` };
  return { level: 'note', text: `${e.name} at ${where} answers (HTTP ${a.status}, ${took}) but the handshake did not complete: check ${env[e.base] ? e.base : 'the provider\'s status page'}` };
}

/** Runs every check and writes the report; resolves with false when something stops voxline from working. */
export async function runDoctor(o: DoctorOptions): Promise<boolean> {
  const configured = ENDPOINTS.filter((e) => o.env[e.key]);
  const findings = [nodeCheck(), ...audioChecks(), await espeakCheck(), ...envChecks(o.env)];
  // The handshakes run together: each is bounded by the timeout.
  findings.push(...(await Promise.all(configured.map((e) => endpointCheck(e, o.env, o.timeoutMs)))));
  for (const f of findings) o.write(`${MARK[f.level]} ${f.text}\n`);
  return findings.every((f) => f.level !== 'problem');
}
