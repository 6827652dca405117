import type { ClockTimer } from '../streams/clock';
import type { TurnTimestamps } from './metrics';
import type { ReplyTurn } from './reply';

/** How long a speculative reply waits for its turn to be confirmed before it is dropped. */
export const PREEMPT_WAIT_MS = 3000;

/**
 * A speculative reply: the LLM (and the TTS of its first clause) started on a likely end of the
 * user's turn, played only once the turn ends with the same text, dropped otherwise.
 */
export class Speculation {
  readonly norm: string;
  readonly abort = new AbortController();
  readonly ts: TurnTimestamps;
  readonly turn: ReplyTurn;
  /** Drops the speculation if its turn is not confirmed in time. */
  timer?: ClockTimer;
  private outcome?: boolean;
  private waiters: ((hit: boolean) => void)[] = [];

  constructor(readonly text: string) {
    this.norm = normalizeTurnText(text);
    this.ts = { endOfSpeech: 0, sttFinal: 0, llmRequest: 0 };
    this.turn = { ts: this.ts, index: 0, userText: text };
    this.abort.signal.addEventListener('abort', () => this.settle(false), { once: true });
  }

  /** True once the turn was confirmed with the same text. */
  get hit(): boolean {
    return this.outcome === true;
  }

  /** Resolves true once the turn is confirmed, false once the speculation is dropped. */
  decision(): Promise<boolean> {
    return this.outcome !== undefined ? Promise.resolve(this.outcome) : new Promise((r) => this.waiters.push(r));
  }

  /** Confirms (`hit`) or drops the speculation; a dropped one is aborted. Only the first call counts. */
  settle(hit: boolean): void {
    if (this.outcome !== undefined) return;
    this.outcome = hit;
    if (!hit) this.abort.abort();
    for (const w of this.waiters.splice(0)) w(hit);
  }
}

/** A turn's text as compared for a preemption hit: lower case, words only, single spaces. */
export function normalizeTurnText(text: string): string {
  return text.toLowerCase().replace(/[^\p{L}\p{N}\s']/gu, ' ').split(/\s+/).filter(Boolean).join(' ');
}
