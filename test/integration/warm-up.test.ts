// Warming up before the first message: the gateway's parse-and-route path runs on a made-up message,
// and a worker's model-call path (context, request, SDK, HTTP client) runs against a throwaway
// server of its own — never against a configured host, and with no configured key.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageCreate } from '../../bot/payloads.ts';
import { sampleMessage, warmUp as warmUpGateway } from '../../bot/warm-up.ts';
import { createLogger } from '../../core/log.ts';
import { route } from '../../core/route.ts';
import { warmUp as warmUpWorker } from '../../workers/warm-up.ts';
import { startModelHost, type ModelHost } from '../stand-ins/model-host.ts';
import { persona } from '../unit/helpers.ts';

describe('warming up', () => {
  let host: ModelHost;
  beforeAll(async () => {
    host = await startModelHost();
  });
  afterAll(async () => {
    await host.close();
  });

  it('the gateway runs its message path on a sample Discord would send, naming a persona', () => {
    const opus = persona({ id: 'opus', name: 'Opus' });
    const parsed = MessageCreate.safeParse(sampleMessage('Opus'));
    expect(parsed.success).toBe(true);
    const settings = { roster: ['opus'], interjectionProbability: 0, chainDepth: 2, cooldownSeconds: 0, repliesPerMinute: 10, historyMessages: 20, guildDailyTokens: 0, personaDailyTokens: 0 };
    // The sample is answered, so the warm-up goes through the addressing path, not around it.
    const routed = route({ content: parsed.data!.content ?? '', author: { kind: 'human' }, mentions: [] }, [opus], { ...settings, lastPostAt: new Map(), ambientRepliesLastMinute: 0 }, { maxPerMessage: 3, now: 0, random: () => 1 });
    expect(routed.answer.map((a) => a.personaId)).toEqual(['opus']);
    expect(() => warmUpGateway([opus], settings)).not.toThrow();
  });

  it('a worker sends each kind of request it will make through the SDKs, to no configured host', async () => {
    const kinds = ['anthropic', 'openai', 'completions'] as const;
    const personas = kinds.map((provider) =>
      persona({ id: provider, name: provider, hosts: [{ provider, model: 'm', apiKeyEnv: 'SECRET_KEY_NOT_SET', baseUrl: provider === 'anthropic' ? host.url : `${host.url}/v1` }] }),
    );
    const lines: string[] = [];
    const log = createLogger('test', 'debug', new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) }));
    await warmUpWorker(personas, log);
    expect(host.requests).toHaveLength(0);
    const done = lines.map((l) => JSON.parse(l) as { msg: string; kinds?: string[]; requests?: number }).find((l) => l.msg === 'warmed up');
    expect(done?.kinds?.sort()).toEqual([...kinds].sort());
    expect(done?.requests).toBe(kinds.length); // each went over HTTP, to the warm-up's own server
  });
});
