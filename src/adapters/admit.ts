import type { IncomingMessage } from 'node:http';
import { callHook } from './guard';

/**
 * Whether a request's `Origin` may open a call: one of `allowedOrigins` when given (then a request
 * without `Origin` is refused too), else a same-origin page (Origin's host equals the Host header)
 * or a client that sends no Origin (not a browser).
 */
export function originAllowed(req: IncomingMessage, allowedOrigins: string[] | undefined): boolean {
  const origin = req.headers.origin;
  return allowedOrigins ? origin !== undefined && allowedOrigins.includes(origin) : !origin || safeHost(origin) === req.headers.host;
}

/**
 * Runs an `authorize` hook: true only if it answers a truthy value within `ms`; a hook that throws, rejects
 * or hangs refuses. No hook (a public endpoint) admits.
 */
export async function authorizedWithin(req: IncomingMessage, authorize: ((request: IncomingMessage) => boolean | Promise<boolean>) | undefined, ms: number): Promise<boolean> {
  if (!authorize) return true;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const ok = await Promise.race([callHook(() => authorize(req)).catch(() => false), late]);
  clearTimeout(timer);
  return Boolean(ok);
}

function safeHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}
