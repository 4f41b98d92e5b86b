import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, describeError, scrubSecrets } from '../../core/log.ts';

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

  it('describes an SDK error by status and type without its headers', () => {
    const err = Object.assign(new Error('404 model not found'), { status: 404, error: { type: 'error', error: { type: 'not_found_error' } }, headers: { 'x-api-key': 'k' } });
    expect(describeError(err)).toEqual({ message: '404 model not found', status: 404, type: 'not_found_error' });
  });
});
