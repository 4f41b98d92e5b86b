import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createHostClient } from '../../core/hosts/clients.ts';
import { createLogger, describeError, keepSecret, scrubSecrets } from '../../core/log.ts';
import { PersonaSchema } from '../../personas/schema.ts';

describe('secrets stay out of logs', () => {
  it('redacts secret-named fields at any depth', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _e, cb) => (lines.push(String(chunk)), cb()) });
    const log = createLogger('t', 'info', sink);
    log.info({ token: 'bot-secret', hook: { token: 'hook-secret' }, a: { b: { token: 'deep' } }, apiKey: 'sk-x', headers: { authorization: 'Bot x' } }, 'x');
    expect(lines.join('')).toContain('[redacted]');
    expect(lines.join('')).not.toMatch(/bot-secret|hook-secret|deep|sk-x|Bot x/);
  });

  it('scrubs keys, webhook tokens and bot tokens out of free text', () => {
    const text = scrubSecrets(
      'POST https://discord.com/api/v10/webhooks/123/AbCdEf_ghIJ-klm failed; key sk-ant-api03-abcdefghijkl; token MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.abcdefghijklmnopqrstuvwxyz0123',
    );
    expect(text).toBe('POST https://discord.com/api/v10/webhooks/123/[redacted] failed; key [redacted]; token [redacted]');
  });

  it('scrubs the secrets this process holds, whatever their shape, and long opaque tokens bare or percent-encoded', () => {
    keepSecret('PROBEOAIKEY9f8e7d6c5b4a3210');
    keepSecret('short'); // not kept: it would blank ordinary words
    const hook = 'NhnAjwJ_iCS7G8pk2VYm8B3wsr9oKNBk906npjdo3iKNUQxYzabc-defghijklmnopq';
    const text = scrubSecrets(`401 Incorrect API key provided: Bearer PROBEOAIKEY9f8e7d6c5b4a3210; a short answer; token ${hook} is bad (https%3A%2F%2Fdiscord.com%2Fapi%2Fwebhooks%2F123%2F${hook})`);
    expect(text).toBe('401 Incorrect API key provided: Bearer [redacted]; a short answer; token [redacted] is bad (https%3A%2F%2Fdiscord.com%2Fapi%2Fwebhooks%2F123%[redacted])'); // (the "2F" before it joins the run)
  });

  it('scrubs what a host address carries: a key as user name or password, as written or decoded, and query values', () => {
    const host = PersonaSchema.parse({ id: 'p', name: 'P', hosts: [{ provider: 'openai', model: 'm', apiKeyEnv: 'none', baseUrl: 'https://USERKEY-aaaa1111:PASS%2FKEY-bbbb2222@proxy.example.org/v1?api_key=QUERY/KEY-cccc3333' }] }).hosts[0]!;
    createHostClient(host, {}, { timeoutMs: 1000 });
    const echoed = 'failed at https://USERKEY-aaaa1111:PASS%2FKEY-bbbb2222@proxy.example.org/v1?api_key=QUERY%2FKEY-cccc3333 (PASS/KEY-bbbb2222, QUERY/KEY-cccc3333)';
    expect(scrubSecrets(echoed)).toBe('failed at https://[redacted]:[redacted]@proxy.example.org/v1?api_key=[redacted] ([redacted], [redacted])');
  });

  it('scrubs an error message whole before cutting it, so a secret at the cut leaves no recognisable piece', () => {
    keepSecret('KEYATTHECUT-0123456789');
    const message = describeError(new Error(`${'x'.repeat(290)} KEYATTHECUT-0123456789 and more`)).message;
    expect(message).not.toContain('KEYATTHE');
    expect(message.length).toBeLessThanOrEqual(300);
  });

  it('describes an SDK error by status and type without its headers', () => {
    const err = Object.assign(new Error('404 model not found'), { status: 404, error: { type: 'error', error: { type: 'not_found_error' } }, headers: { 'x-api-key': 'k' } });
    expect(describeError(err)).toEqual({ message: '404 model not found', status: 404, type: 'not_found_error' });
  });
});
