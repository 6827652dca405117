import type { ChatReply, Responder } from './openai';

/**
 * A responder for {@link OpenAiEmulator} that answers with `replies` in order, one per request
 * (a tool call's follow-up request takes the next one). Once they run out it fails loudly with
 * an HTTP 500 naming the request, so a test never hangs on a missing reply.
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
  return (req) => {
    const reply = replies[i++];
    if (reply === undefined) throw new Error(`scriptedReplies: no reply left for request ${i} (${replies.length} scripted); last message: ${JSON.stringify(req.messages.at(-1)).slice(0, 200)}`);
    return typeof reply === 'string' ? { content: reply } : reply;
  };
}
