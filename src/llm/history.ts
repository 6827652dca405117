import type { ChatMessage } from './types';

/**
 * Appends `messages` to `history`, then drops the oldest beyond `limit` (when set), never leaving a
 * tool result without the assistant message that asked for it.
 */
export function appendHistory(history: ChatMessage[], messages: readonly ChatMessage[], limit?: number): void {
  history.push(...messages);
  if (limit && history.length > limit) {
    let drop = history.length - limit;
    while (drop < history.length && history[drop]!.role === 'tool') drop++;
    history.splice(0, drop);
  }
}

/**
 * `history` with the system prompt first, as sent to the model. When `history` already starts
 * with a system message (a session's instructions given to an LLM that has its own), the two are
 * merged into one message, `instructions` first: the model gets a single system prompt.
 */
export function withInstructions(history: readonly ChatMessage[], instructions?: string): ChatMessage[] {
  if (!instructions) return [...history];
  const [first, ...rest] = history;
  if (first?.role === 'system' && typeof first.content === 'string') return [{ role: 'system', content: `${instructions}\n\n${first.content}` }, ...rest];
  return [{ role: 'system', content: instructions }, ...history];
}

/** The first of `phrases` that `text` contains as whole words (case-insensitive), if any. */
export function hangUpPhraseIn(text: string, phrases: readonly string[] | undefined): string | undefined {
  return phrases?.find((p) => new RegExp(`\\b${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`, 'i').test(text));
}
