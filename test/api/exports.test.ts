import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as root from '../../src/index';
import * as server from '../../src/server/index';

const repo = join(import.meta.dirname, '../..');

/** The public values of `voxline`. A change here is a change of the public API: say so in the CHANGELOG. */
const PUBLIC = `AbortError AudioFormatError AuthError BudgetExceededError CartesiaTts ConfigError DeepgramAuraTts DeepgramFluxStt DeepgramStt DeviceError ElevenLabsTts EnergyVad FallbackLlm FallbackStt
FallbackTts FrameSplitter GatewayStt GatewayTts LlmStream LocalTts OpenAiLlm OpenAiRealtime OpenAiRealtimeConnection OpenAiTts ProtocolError
ProviderError REALTIME_RATE Resampler SUPPORTED_RATES SentenceChunker SessionMetrics SileroVad SttStream TimeoutError ToolError TtsStream
VoiceSession VoxlineError costOf decodeMulaw defaultSynthesizer encodeMulaw espeakSynthesizer fallback floatToInt16 frameDurationMs frameFromBytes frameToBytes
gateway int16ToFloat isAbortError merge percentiles readWav redact registerSecret resample resampleStream rms runToolLoop sentences silence
realClock sileroVad splitFrames textOf toneSynthesizer tool writeWav
Agent CARRY_HISTORY_TIMEOUT_MS Handoff MAX_HANDOFFS_PER_TURN handoff`.split(/\s+/);

/** Load `entry` under a hook that fails on any import of `forbidden`; returns the error text, or '' when it loaded. */
function loadForbidding(entry: string, forbidden: string[]): string {
  try {
    execFileSync(process.execPath, ['--import', 'tsx', '--import', './test/fixtures/forbid-modules.mjs', '-e', `import(${JSON.stringify(entry)}).catch((e) => { console.error(String(e)); process.exit(3); })`], {
      cwd: repo,
      env: { ...process.env, VOXLINE_FORBID: forbidden.join(',') },
      stdio: 'pipe',
    });
    return '';
  } catch (err) {
    return String((err as { stderr?: Buffer }).stderr ?? err);
  }
}

describe('the root export is the public API only', () => {
  it('lists exactly the public values', () => {
    expect(Object.keys(root).sort()).toEqual([...PUBLIC].sort());
  });

  it('leaves out the internals (sockets, parsers, stream plumbing) and the server', () => {
    for (const internal of ['openSocket', 'toWs', 'WsTranscription', 'checkBearer', 'parseJson', 'WarmSocket', 'Channel', 'abortable', 'linkedAbort', 'parseDeepgram', 'encodeLinear16', 'createVoiceServer', 'runCluster']) {
      expect(root, internal).not.toHaveProperty(internal);
    }
    expect(Object.keys(server).sort()).toEqual(['createVoiceServer', 'jsonlRecords', 'runCluster']);
  });

  it("`import 'voxline'` does not load prom-client or OpenTelemetry; `voxline/server` does", () => {
    const forbidden = ['prom-client', '@opentelemetry/api'];
    expect(loadForbidding('./src/index.ts', forbidden)).toBe('');
    expect(loadForbidding('./src/server/index.ts', forbidden)).toMatch(/forbidden module loaded: (prom-client|@opentelemetry\/api)/);
  }, 60_000);
});
