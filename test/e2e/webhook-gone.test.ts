// Someone deletes chorus's webhook while two workers, each holding the channel's pool in memory, go on
// replying: every reply is still posted exactly once, through one new webhook, and no webhook is left
// behind by workers rebuilding the pool over each other.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numberAsked, type RecordedRequest } from '../stand-ins/model-host.ts';
import { startHarness, type Harness } from './harness.ts';

function echoNumber(req: RecordedRequest): { text: string } {
  return { text: `Answer ${numberAsked(req)}` };
}

describe('a webhook deleted under the workers', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ inProcessWorkers: 2 });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('posts every later reply once, through one new webhook', async () => {
    h.anthropicHost.setResponder(echoNumber);
    const channelId = h.discord.addChannel({ name: 'webhook-gone' });
    const say = async (n: number) => {
      const { id } = await h.discord.userSays({ channelId, content: `Opus, number ${n}` });
      expect(await h.routed(id)).toBe(1);
      await h.settled();
    };
    // Both workers take turns here, so each keeps the pool (one webhook) in memory.
    for (let n = 0; n < 6; n++) await say(n);
    const before = new Set(h.discord.messages(channelId).flatMap((m) => m.webhook_id ?? []));
    expect(before.size).toBe(1);
    const [gone] = before;
    const deleted = await fetch(`${h.discord.restUrl}/v10/webhooks/${gone}`, { method: 'DELETE', headers: { authorization: `Bot ${h.discord.token}` } });
    expect(deleted.status).toBe(204);

    for (let n = 6; n < 14; n++) await say(n);

    const answers = h.discord.messages(channelId).filter((m) => m.webhook_id !== undefined);
    for (let n = 0; n < 14; n++) expect(answers.filter((m) => m.content === `Answer ${n}`)).toHaveLength(1);
    const after = new Set(answers.slice(6).map((m) => m.webhook_id));
    expect(after.size).toBe(1);
    expect(after.has(gone)).toBe(false);
    // The channel holds chorus's one new webhook, and the pool in Redis names it.
    const listed = (await (await fetch(`${h.discord.restUrl}/v10/channels/${channelId}/webhooks`, { headers: { authorization: `Bot ${h.discord.token}` } })).json()) as { id: string }[];
    expect(listed.map((w) => w.id)).toEqual([...after]);
    expect(JSON.parse((await h.redis.get(`${h.config.CHORUS_PREFIX}:webhooks:${channelId}`)) ?? '[]')).toEqual([expect.objectContaining({ id: [...after][0] })]);
  });
});
