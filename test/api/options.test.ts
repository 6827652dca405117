import { describe, expect, it } from 'vitest';
import { ConfigError, DeepgramAuraTts, DeepgramStt, ElevenLabsTts, GatewayStt, GatewayTts, OpenAiLlm, OpenAiTts, gateway } from '../../src/index';

describe('one endpoint option, `baseURL`, with one rule (scheme, host and path up to the API version)', () => {
  const makers: [string, (o: Record<string, unknown>) => unknown][] = [
    ['DeepgramStt', (o) => new DeepgramStt({ apiKey: 'k', ...o })],
    ['DeepgramAuraTts', (o) => new DeepgramAuraTts({ apiKey: 'k', ...o })],
    ['ElevenLabsTts', (o) => new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', ...o })],
    ['GatewayStt', (o) => new GatewayStt({ apiKey: 'k', model: 'm', ...o })],
    ['GatewayTts', (o) => new GatewayTts({ apiKey: 'k', model: 'm', ...o })],
    ['OpenAiLlm', (o) => new OpenAiLlm({ apiKey: 'k', model: 'm', ...o })],
    ['OpenAiTts', (o) => new OpenAiTts({ apiKey: 'k', ...o })],
    ['gateway()', (o) => gateway({ apiKey: 'k', ...o })],
  ];

  it.each(makers)('%s takes baseURL in http(s) or ws(s) form, and refuses the old names loudly', (name, make) => {
    expect(() => make({ baseURL: 'https://example.test/v1' })).not.toThrow();
    expect(() => make({ baseURL: 'ws://127.0.0.1:9/v1/' })).not.toThrow();
    expect(() => make({ url: 'wss://example.test/v1/listen' })).toThrow(new ConfigError(`${name}: the \`url\` option was renamed \`baseURL\` (scheme, host and path up to the API version, e.g. ${name.startsWith('OpenAi') ? 'https://api.openai.com/v1' : name.startsWith('Gateway') || name === 'gateway()' ? 'https://api.aigateway.sh/v1' : name === 'ElevenLabsTts' ? 'wss://api.elevenlabs.io/v1' : 'wss://api.deepgram.com/v1'})`));
    expect(() => make({ baseUrl: 'wss://example.test' })).toThrow(/`baseUrl` option was renamed `baseURL`/);
  });

  it.each(makers)('%s refuses a bad URL or key at construction, with a ConfigError that names the class', (name, make) => {
    expect(() => make({ baseURL: 'not a url' })).toThrow(ConfigError);
    expect(() => make({ baseURL: 'not a url' })).toThrow(new RegExp(`^${name.replace(/[()]/g, '\\$&')}: baseURL is not a URL`));
    expect(() => make({ baseURL: 'ftp://example.test/v1' })).toThrow(/http\(s\) or ws\(s\)/);
    expect(() => make({ apiKey: 'sk-abc\n' })).toThrow(/whitespace or a control character/);
  });
});

describe('ElevenLabsTts outputFormat', () => {
  it('refuses a format the socket cannot send (a JavaScript caller, a typo) with the list, at construction', () => {
    const make = (outputFormat: string) => () => new ElevenLabsTts({ apiKey: 'k', voiceId: 'v', outputFormat: outputFormat as 'pcm_16000' });
    for (const bad of ['pcm_12345', 'pcm_16000x', 'mp3_44100_128', 'ulaw_16000']) {
      expect(make(bad)).toThrow(new ConfigError(`ElevenLabsTts: unsupported outputFormat ${bad} (supported: pcm_8000, pcm_16000, pcm_22050, pcm_24000, pcm_44100, ulaw_8000)`));
    }
    for (const good of ['pcm_8000', 'pcm_16000', 'pcm_22050', 'pcm_24000', 'pcm_44100', 'ulaw_8000']) expect(make(good)).not.toThrow();
  });
});
