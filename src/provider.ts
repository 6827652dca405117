import { inspect } from 'node:util';
import { ConfigError, registerSecret } from './errors';

/**
 * What the built-in providers share: key and endpoint checks at construction, and a
 * `util.inspect` view that never shows a secret. Internal; the base classes
 * ({@link SttStream}, {@link LlmStream}, {@link TtsStream}) are the public face.
 */

/** Fields a provider's `util.inspect` view shows; nothing else (keys live in `#private` fields). */
const SHOWN = ['provider', 'model', 'voice', 'sampleRate'] as const;

/** Makes `util.inspect` (and so `console.log`) of every instance of `cls` show only {@link SHOWN}. */
export function inspectSafely(cls: abstract new (...args: never[]) => object): void {
  Object.defineProperty(cls.prototype, inspect.custom, {
    configurable: true,
    writable: true,
    value(this: Record<string, unknown>, _depth: number, options: object) {
      const shown: Record<string, unknown> = {};
      for (const k of SHOWN) {
        const v = this[k];
        if (typeof v === 'string' || typeof v === 'number') shown[k] = v;
      }
      return `${this.constructor.name} ${inspect(shown, options)}`;
    },
  });
}

/**
 * Checks an API key at construction (present, a string, no whitespace or control characters, which
 * no key has and which an HTTP header cannot carry) and registers it for redaction.
 */
export function checkApiKey(owner: string, key: unknown): string {
  if (typeof key !== 'string' || !key) throw new ConfigError(`${owner} needs an apiKey`);
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(key)) throw new ConfigError(`${owner}: the apiKey contains whitespace or a control character (a newline copied with it?)`);
  registerSecret(key);
  return key;
}

/**
 * The one rule for endpoint options: `baseURL` is the scheme, host and any path prefix up to and
 * including the API version (`https://api.openai.com/v1`, `wss://api.deepgram.com/v1`); each
 * provider appends its own endpoint path. `http(s)` and `ws(s)` are both accepted; WebSocket
 * providers use the `ws(s)` form. Returns it without a trailing slash, in the form asked.
 */
export function checkBaseURL(owner: string, options: object, fallback: string, form: 'ws' | 'http'): string {
  for (const old of ['url', 'baseUrl'] as const) {
    if (old in options && (options as Record<string, unknown>)[old] !== undefined) {
      throw new ConfigError(`${owner}: the \`${old}\` option was renamed \`baseURL\` (scheme, host and path up to the API version, e.g. ${fallback})`);
    }
  }
  const given = (options as { baseURL?: unknown }).baseURL;
  if (given !== undefined && typeof given !== 'string') throw new ConfigError(`${owner}: baseURL must be a string`);
  const raw = given ?? fallback;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${owner}: baseURL is not a URL: ${JSON.stringify(raw.slice(0, 100))}`);
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) throw new ConfigError(`${owner}: baseURL must be http(s) or ws(s), not ${url.protocol}`);
  if (url.search || url.hash) throw new ConfigError(`${owner}: baseURL must not carry a query or fragment`);
  const secure = url.protocol === 'https:' || url.protocol === 'wss:';
  const scheme = form === 'ws' ? (secure ? 'wss:' : 'ws:') : secure ? 'https:' : 'http:';
  return `${scheme}${raw.slice(url.protocol.length)}`.replace(/\/+$/, '');
}
