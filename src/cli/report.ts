// Reports for the offline demo: a latency table, a stereo recording and an SVG timeline.
import { renderTimeline, type PlayedSegment } from '../adapters/index';
import { percentiles, writeWav, type TurnEvent } from '../index';

/** Who spoke from when to when (clock milliseconds), for the timeline. */
export interface SpeechSpan { who: 'caller' | 'agent'; start: number; end: number; text: string; interrupted?: boolean }

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(0).padStart(6) : '     -');

/** A per-turn latency table with p50/p95 rows. */
export function latencyTable(turns: TurnEvent[]): string {
  const cols = ['stt', 'llmTtft', 'firstClause', 'tts', 'voiceToVoice', 'overhead'] as const;
  const head = ['turn', 'STT final', 'LLM 1st tok', '1st clause', 'TTS 1st aud', 'voice→voice', 'overhead'];
  const rows = turns.map((t) => [`#${t.index}`, ...cols.map((c) => fmt(t.latency[c]))]);
  for (const p of ['p50', 'p95'] as const) rows.push([p, ...cols.map((c) => fmt(percentiles(turns.map((t) => t.latency[c]))[p]))]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padStart(widths[i]!)).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line), '(milliseconds)'].join('\n');
}

/** Caller on the left channel, agent on the right, on one clock. */
export function stereoWav(caller: PlayedSegment[], agent: PlayedSegment[], origin: number, rate: number): Buffer {
  const left = renderTimeline(caller, origin, rate);
  const right = renderTimeline(agent, origin, rate);
  const n = Math.max(left.length, right.length);
  const inter = new Int16Array(n * 2);
  for (let i = 0; i < n; i++) {
    inter[2 * i] = left[i] ?? 0;
    inter[2 * i + 1] = right[i] ?? 0;
  }
  return writeWav(inter, rate, 2);
}

const esc = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** The conversation on a time axis: who spoke when, and each turn's latency components. */
export function timelineSvg(spans: SpeechSpan[], turns: TurnEvent[], origin: number): string {
  const end = Math.max(...spans.map((s) => s.end), 1) - origin;
  const W = 1200, left = 70, scale = (W - left - 20) / end;
  const x = (t: number) => left + (t - origin) * scale;
  const colors = { stt: '#f59e0b', llmTtft: '#8b5cf6', firstClause: '#ec4899', tts: '#10b981', overhead: '#ef4444' } as const;
  const parts: string[] = [];
  const row = (y: number, label: string) => parts.push(`<text x="8" y="${y + 14}" font-size="12">${label}</text>`);
  row(20, 'caller');
  row(60, 'agent');
  row(100, 'latency');
  for (const s of spans) {
    const y = s.who === 'caller' ? 20 : 60;
    parts.push(`<rect x="${x(s.start).toFixed(1)}" y="${y}" width="${Math.max(1, (s.end - s.start) * scale).toFixed(1)}" height="20" fill="${s.who === 'caller' ? '#3b82f6' : s.interrupted ? '#9ca3af' : '#22c55e'}"><title>${esc(s.text)}</title></rect>`);
  }
  for (const t of turns) {
    let at = t.timestamps.endOfSpeech;
    for (const k of ['stt', 'llmTtft', 'firstClause', 'tts', 'overhead'] as const) {
      const w = Math.max(0, t.latency[k]);
      parts.push(`<rect x="${x(at).toFixed(1)}" y="100" width="${(w * scale).toFixed(2)}" height="20" fill="${colors[k]}"><title>turn ${t.index} ${k}: ${w.toFixed(0)} ms</title></rect>`);
      at += w;
    }
    parts.push(`<text x="${x(t.timestamps.endOfSpeech).toFixed(1)}" y="136" font-size="10">${t.latency.voiceToVoice.toFixed(0)} ms</text>`);
  }
  const ticks = Array.from({ length: Math.floor(end / 1000) + 1 }, (_, i) => `<line x1="${x(origin + i * 1000)}" y1="145" x2="${x(origin + i * 1000)}" y2="150" stroke="#000"/><text x="${x(origin + i * 1000) - 4}" y="162" font-size="9">${i}s</text>`);
  const legend = Object.entries(colors).map(([k, c], i) => `<rect x="${left + i * 130}" y="172" width="12" height="12" fill="${c}"/><text x="${left + i * 130 + 16}" y="182" font-size="11">${k}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="195" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${parts.join('')}${ticks.join('')}${legend.join('')}</svg>\n`;
}
