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

/**
 * Refuses an option name `owner` does not know (a typo, a name from another SDK: plain
 * JavaScript or a loosely typed object gets no compiler check), naming the nearest known one, so
 * that it fails at construction instead of being ignored. A name whose value is `undefined` is let
 * through. `hint` follows the message of a name with no near match.
 */
export function checkOptionNames(owner: string, options: object, names: Readonly<Record<string, true>>, hint = ''): void {
  for (const key of Object.keys(options)) {
    if (Object.hasOwn(names, key) || (options as Record<string, unknown>)[key] === undefined) continue;
    const near = nearestName(key, Object.keys(names));
    throw new ConfigError(`${owner}: unknown option \`${key}\`${near ? `: did you mean \`${near}\`?` : `${hint ? ` ${hint}` : ''} (known: ${Object.keys(names).join(', ')})`}`);
  }
}

/**
 * Refuses an event name `owner` never emits (`'turns'`, `'close'`: plain JavaScript gets no
 * compiler check, and a listener on such a name would wait forever), naming the nearest one.
 */
export function checkEventName(owner: string, event: unknown, names: Readonly<Record<string, true>>): void {
  if (typeof event !== 'string' || Object.hasOwn(names, event)) return;
  const near = nearestName(event, Object.keys(names));
  throw new ConfigError(`${owner}: no event is named \`${event}\`${near ? `: did you mean \`${near}\`?` : ` (events: ${Object.keys(names).join(', ')})`}`);
}

/** The known name nearest to `name` (the same but for case, one a prefix of the other, or within a few edits), if any. */
function nearestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  const same = known.find((k) => k.toLowerCase() === lower);
  if (same) return same;
  // One a prefix of the other (`voice` for `voiceId`), by a few letters.
  const prefixed = known.find((k) => { const kl = k.toLowerCase(); return Math.abs(kl.length - lower.length) <= 3 && Math.min(kl.length, lower.length) >= 4 && (kl.startsWith(lower) || lower.startsWith(kl)); });
  if (prefixed) return prefixed;
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.min(3, Math.floor(name.length / 4)));
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (d <= bestDistance) [best, bestDistance] = [k, d - 1];
  }
  return best;
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** Refuses a number outside `[min, max]` (or not a finite number) for the option `name`, when given. */
export function checkRange(owner: string, name: string, value: unknown, min: number, max: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(`${owner}: ${name} must be a number from ${min} to ${max} (got ${typeof value === 'string' ? JSON.stringify(value) : String(value)})`);
  }
}
