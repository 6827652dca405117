/** Timestamps of one turn, in milliseconds of the session's clock (`performance.now()` by default). */
export interface TurnTimestamps {
  /** When the user stopped speaking (from the STT's word timings and the input's arrival times). */
  endOfSpeech: number;
  /** When the STT's end-of-turn final arrived. */
  sttFinal: number;
  /** When the LLM request was sent. */
  llmRequest: number;
  /** When the first text token arrived. */
  llmFirstToken?: number;
  /** When the first speakable chunk of the answer was sent to TTS (the tool filler excluded). */
  firstTextToTts?: number;
  /** When the answer's first audio came back from TTS. */
  ttsFirstAudio?: number;
  /** When the answer's first audio was written to the output. */
  firstAudioOut?: number;
  /** When the tool filler was sent to TTS, if it was spoken before any text of the answer. */
  fillerToTts?: number;
  /** When the tool filler's first audio was written to the output, if it was spoken first. */
  fillerAudioOut?: number;
}

/** Latency breakdown of one turn, in milliseconds. */
export interface TurnLatency {
  /** End of speech → STT final. */
  stt: number;
  /** LLM request → first token. */
  llmTtft: number;
  /** First token → first speakable chunk (depends on the model's token rate and the chunker). */
  firstClause: number;
  /** First text to TTS → first audio back. */
  tts: number;
  /** End of speech → first audio out. */
  voiceToVoice: number;
  /**
   * How long before the STT's final the LLM request went out (a preemptive reply; 0 otherwise).
   */
  headStart: number;
  /**
   * Time not spent waiting for a provider: voice-to-voice minus the providers' critical path,
   * stt + llmTtft + firstClause + tts, or with a head start, the later of stt and
   * (stt − headStart) + llmTtft + firstClause + tts.
   */
  overhead: number;
  /**
   * End of speech → the tool filler's first audio out, when a slow tool call made the agent speak
   * its filler before the answer (the other fields time the answer).
   */
  filler?: number;
  /** The agent that answered the turn, when the session has agents (in `metrics.turns`). */
  agent?: string;
}

/** Computes a turn's latency breakdown, or undefined if the turn produced no audio. */
export function latencyOf(t: TurnTimestamps): TurnLatency | undefined {
  if (t.llmFirstToken === undefined || t.firstTextToTts === undefined || t.ttsFirstAudio === undefined || t.firstAudioOut === undefined) return undefined;
  const stt = t.sttFinal - t.endOfSpeech;
  const llmTtft = t.llmFirstToken - t.llmRequest;
  const firstClause = Math.max(0, t.firstTextToTts - t.llmFirstToken);
  const tts = t.ttsFirstAudio - t.firstTextToTts;
  const voiceToVoice = t.firstAudioOut - t.endOfSpeech;
  const headStart = Math.max(0, t.sttFinal - t.llmRequest);
  const critical = Math.max(stt, stt - headStart + llmTtft + firstClause + tts);
  return { stt, llmTtft, firstClause, tts, voiceToVoice, headStart, overhead: voiceToVoice - critical, ...(t.fillerAudioOut !== undefined ? { filler: t.fillerAudioOut - t.endOfSpeech } : {}) };
}

/** Percentiles of a set of values. */
export interface Percentiles {
  /** How many values there were. */
  count: number;
  /** Median (nearest rank), in milliseconds. */
  p50: number;
  /** 95th percentile (nearest rank), in milliseconds. */
  p95: number;
  /** 99th percentile (nearest rank), in milliseconds. */
  p99: number;
  /** Smallest value, in milliseconds. */
  min: number;
  /** Largest value, in milliseconds. */
  max: number;
  /** Arithmetic mean, in milliseconds. */
  mean: number;
}

/** Percentiles (nearest-rank) of `values`. */
export function percentiles(values: readonly number[]): Percentiles {
  if (!values.length) return { count: 0, p50: NaN, p95: NaN, p99: NaN, min: NaN, max: NaN, mean: NaN };
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
  return { count: s.length, p50: at(50), p95: at(95), p99: at(99), min: s[0]!, max: s[s.length - 1]!, mean: s.reduce((a, b) => a + b, 0) / s.length };
}

/** Per-turn latencies of a session, with summaries. */
export class SessionMetrics {
  /** Every completed turn's latency. */
  readonly turns: TurnLatency[] = [];
  /** Barge-in: interrupting speech event → `output.clear()`, ms. */
  readonly bargeIn: number[] = [];
  /** Preemptive replies: played (hits), dropped (misses), and what the dropped ones used. */
  readonly preemption = {
    /** Preemptive replies that were played. */
    hits: 0,
    /** Preemptive replies that were dropped. */
    misses: 0,
    /** LLM completion tokens the dropped replies used. */
    wastedTokens: 0,
    /** Characters the dropped replies sent to TTS. */
    wastedChars: 0,
  };

  /** p50/p95/p99 of each latency component (`filler`: of the turns that spoke the tool filler first). */
  summary(): Record<Exclude<keyof TurnLatency, 'agent'>, Percentiles> & {
    /** Barge-in latency: from the user's speech start to the agent's audio stopping. */
    bargeIn: Percentiles;
  } {
    const of = (k: Exclude<keyof TurnLatency, 'agent'>) => percentiles(this.turns.flatMap((t) => (t[k] === undefined ? [] : [t[k]])));
    return { stt: of('stt'), llmTtft: of('llmTtft'), firstClause: of('firstClause'), tts: of('tts'), voiceToVoice: of('voiceToVoice'), headStart: of('headStart'), overhead: of('overhead'), filler: of('filler'), bargeIn: percentiles(this.bargeIn) };
  }
}

/** Prices to estimate a session's cost from its usage. */
export interface PriceTable {
  /** Per minute of audio sent to STT. */
  sttPerMinute?: number | undefined;
  /** Per 1,000 prompt tokens. */
  llmPromptPer1k?: number | undefined;
  /** Per 1,000 completion tokens. */
  llmCompletionPer1k?: number | undefined;
  /** Per 1,000 characters sent to TTS. */
  ttsPer1kChars?: number | undefined;
}

/** What a session consumed. */
export interface Usage {
  /** Seconds of audio sent to the STT. */
  sttSeconds: number;
  /** LLM prompt (input) tokens. */
  llmPromptTokens: number;
  /** LLM completion (output) tokens. */
  llmCompletionTokens: number;
  /** Characters sent to the TTS. */
  ttsCharacters: number;
}

/** Cost of `usage` under `prices`. */
export function costOf(usage: Usage, prices: PriceTable): number {
  return (
    (usage.sttSeconds / 60) * (prices.sttPerMinute ?? 0) +
    (usage.llmPromptTokens / 1000) * (prices.llmPromptPer1k ?? 0) +
    (usage.llmCompletionTokens / 1000) * (prices.llmCompletionPer1k ?? 0) +
    (usage.ttsCharacters / 1000) * (prices.ttsPer1kChars ?? 0)
  );
}
