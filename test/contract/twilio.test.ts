/**
 * Twilio request signatures against twilio-node's own test vectors: `validateTwilioSignature`
 * must accept and refuse exactly what twilio-node's `validateRequest` does (twilio/twilio-node
 * spec/validation.spec.js and spec/unit/webhooks/webhooks.spec.js, at 45d3d65, copied as data).
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { validateTwilioSignature } from '../../src/adapters/index';

const token = '12345';
const requestUrl = 'https://mycompany.com/myapp.php?foo=1&bar=2';
const defaultParams = { CallSid: 'CA1234567890ABCDE', Caller: '+14158675309', Digits: '1234', From: '+14158675309', To: '+18005551212' };
const defaultSignature = 'RSOYDt4T1cUTdK1PDd93/VVr8B8=';

describe('validateTwilioSignature (spec/validation.spec.js)', () => {
  const accepts: [string, string, string, Record<string, string | string[]>][] = [
    ['the correct signature', defaultSignature, requestUrl, defaultParams],
    ['an https URL with a port, by stripping it', defaultSignature, requestUrl.replace('.com', '.com:1234'), defaultParams],
    ['an http URL with a port', 'Zmvh+3yNM1Phv2jhDCwEM3q5ebU=', requestUrl.replace('.com', '.com:1234').replace('https', 'http'), defaultParams],
    ['an https URL without a port, by adding 443', 'kvajT1Ptam85bY51eRf/AJRuM3w=', requestUrl, defaultParams],
    ['an http URL without a port, by adding 80', '0ZXoZLH/DfblKGATFgpif+LLRf4=', requestUrl.replace('https', 'http'), defaultParams],
    ['a URL with credentials', 'CukzLTc1tT5dXEDIHm/tKBanW10=', 'https://user:pass@mycompany.com/myapp.php?foo=1&bar=2', defaultParams],
    ['a URL with just a username', '2YRLlVAflCqxaNicjMpJcSTgzSs=', 'https://user@mycompany.com/myapp.php?foo=1&bar=2', defaultParams],
    ['a URL with credentials, by adding the port', 'ZQFR1PTIZXF2MXB8ZnKCvnnA+rI=', 'https://user:pass@mycompany.com/myapp.php?foo=1&bar=2', defaultParams],
    ['a URL with special characters', 'TfZzewPq8wqrGlMfyAud8+/IvJ0=', `${requestUrl}&Body=It's+amazing`, defaultParams],
    ['an array parameter', '83O6e2vORAoJHUNzJjDWN1jz+BA=', requestUrl, { 'MessagingBinding.Address': ['+1325xxxxxxx', '+1415xxxxxxx'] }],
    ['an array parameter in any order', '83O6e2vORAoJHUNzJjDWN1jz+BA=', requestUrl, { 'MessagingBinding.Address': ['+1415xxxxxxx', '+1325xxxxxxx'] }],
    ['multiple params and repeated values', 'IK+Dwps556ElfBT0I3Rgjkr1wJU=', requestUrl, { Sid: 'CA123', SidAccount: 'AC123', Digits: ['5678', '1234', '1234'] }],
  ];
  it.each(accepts)('accepts %s', (_what, signature, url, params) => {
    expect(validateTwilioSignature(token, url, params, signature)).toBe(true);
  });

  it('keeps every value of a repeated name in a form body given as URLSearchParams', () => {
    const body = new URLSearchParams('Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234');
    expect(validateTwilioSignature(token, requestUrl, body, 'IK+Dwps556ElfBT0I3Rgjkr1wJU=')).toBe(true);
  });

  it('refuses a wrong or missing signature', () => {
    expect(validateTwilioSignature(token, requestUrl, defaultParams, 'WRONG_SIGNATURE')).toBe(false);
    expect(validateTwilioSignature(token, requestUrl, defaultParams, undefined)).toBe(false);
    expect(validateTwilioSignature(token, requestUrl, defaultParams, `${defaultSignature}!`)).toBe(false);
    expect(validateTwilioSignature('other', requestUrl, defaultParams, defaultSignature)).toBe(false);
  });
});

describe('validateTwilioSignature (spec/unit/webhooks/webhooks.spec.js)', () => {
  const authToken = 's3cr3t';
  const sign = (url: string) => createHmac('sha1', authToken).update(url).digest('base64');
  it('refuses a signature of another URL', () => {
    expect(validateTwilioSignature(authToken, 'https://example.com/path?test=param2', {}, sign('https://example.com/path?test=param'))).toBe(false);
  });
  it.each([
    ['https://example.com:443/path?test=param', 'https://example.com:443/path?test=param'],
    ['https://example.com:443/path?test=param', 'https://example.com/path?test=param'],
    ['https://example.com/path?test=param', 'https://example.com/path?test=param'],
    ['https://example.com/path?test=param', 'https://example.com:443/path?test=param'],
    ["https://example.com/path?test=param'WithQuote", "https://example.com/path?test=param'WithQuote"],
    ["https://example.com/path?test=param'WithQuote", 'https://example.com/path?test=param%27WithQuote'],
    ['https://example.com/path?test=param%27WithQuote', "https://example.com/path?test=param'WithQuote"],
    ['https://example.com/path?test=param%27WithQuote', 'https://example.com/path?test=param%27WithQuote'],
  ])('signed for %s, accepts %s', (signedUrl, url) => {
    expect(validateTwilioSignature(authToken, url, {}, sign(signedUrl))).toBe(true);
  });
  it('treats wss: like https: for the default port (Media Streams upgrades)', () => {
    expect(validateTwilioSignature(authToken, 'wss://example.com/media', {}, sign('wss://example.com:443/media'))).toBe(true);
    expect(validateTwilioSignature(authToken, 'wss://example.com:443/media', {}, sign('wss://example.com/media'))).toBe(true);
  });
});
