import { ConfigError } from '../errors';
import type { ChatReply, Responder } from './openai';

/**
 * A responder for {@link OpenAiEmulator} that answers with `replies` in order, one per request
 * (a tool call's follow-up request takes the next one). Once they run out it fails loudly: the
 * request gets an HTTP 500 naming it (so nothing hangs), and, since a session would only turn that
 * into an `error` event and an apology, the `ConfigError` is also thrown out of the event loop,
 * once: an uncaught exception, which fails the test that was running (vitest reports it and
 * fails the run; node:test and Jest fail the test) and ends a plain script.
 *
 * ```ts
 * const llm = new OpenAiEmulator({ responder: scriptedReplies([
 *   { toolCalls: [{ name: 'lookup_order', arguments: { order_id: 'A-17' } }] },
 *   { content: 'It shipped yesterday.' },
 * ]) });
 * ```
 */
export function scriptedReplies(replies: readonly (ChatReply | string)[]): Responder {
  let i = 0;
  let exhausted = false;
  return (req) => {
    const reply = replies[i++];
    if (reply === undefined) {
      const error = new ConfigError(`scriptedReplies: no reply left for request ${i} (${replies.length} scripted); last message: ${JSON.stringify(req.messages.at(-1)).slice(0, 200)}`);
      if (!exhausted) {
        exhausted = true;
        setImmediate(() => {
          throw error;
        });
      }
      throw error;
    }
    return typeof reply === 'string' ? { content: reply } : reply;
  };
}
