import type { APIMessage } from 'discord-api-types/v10';
import { describe, expect, it } from 'vitest';
import type { REST } from '@discordjs/rest';
import { CATCH_UP_MS, catchUp, changedWhileAway, missedMessages, readFrom, shardOf } from '../../bot/catch-up.ts';
import { snowflakeAt, snowflakeTime } from '../../core/messages.ts';

const at = (ms: number, n = 0) => ({ id: (BigInt(snowflakeAt(ms)) + BigInt(n)).toString() }) as APIMessage;

describe('what the gateway missed while it had no session', () => {
  const sessionAt = Date.parse('2026-12-07T12:00:00Z');

  it('is what was written after it last heard from the channel and before the session began, oldest first', () => {
    const heardAt = sessionAt - 60_000;
    const messages = [at(sessionAt + 10), at(sessionAt - 1_000, 2), at(sessionAt - 1_000, 1), at(heardAt - 60_000), at(heardAt - 1_000)];
    expect(missedMessages(messages, heardAt, sessionAt).map((m) => snowflakeTime(m.id))).toEqual([heardAt - 1_000, sessionAt - 1_000, sessionAt - 1_000]);
    expect(missedMessages(messages, heardAt, sessionAt).map((m) => m.id)).toEqual([at(heardAt - 1_000).id, at(sessionAt - 1_000, 1).id, at(sessionAt - 1_000, 2).id]);
  });

  it('leaves what is too old to answer late, and reads from there', () => {
    const heardAt = sessionAt - 3_600_000;
    expect(missedMessages([at(sessionAt - CATCH_UP_MS - 1), at(sessionAt - CATCH_UP_MS + 1)], heardAt, sessionAt)).toHaveLength(1);
    expect(snowflakeTime(readFrom(heardAt, sessionAt))).toBe(sessionAt - CATCH_UP_MS - 1);
  });

  it('reads a busy channel page after page, in order, and a failing one is skipped alone', async () => {
    const heardAt = sessionAt - 60_000;
    const written = Array.from({ length: 250 }, (_, i) => at(heardAt + 100 * i, i));
    // Discord's `after`: the 100 messages right after the anchor, newest first.
    const rest = {
      get: async (route: string, o: { query: URLSearchParams }) => {
        if (route.includes('gone')) throw new Error('Unknown Channel');
        const after = BigInt(o.query.get('after')!);
        return written.filter((m) => BigInt(m.id) > after).slice(0, 100).reverse();
      },
    } as unknown as REST;
    const routed: string[] = [];
    const skipped: string[] = [];
    const count = await catchUp(rest, [{ channelId: 'busy', heardAt }, { channelId: 'gone', heardAt }], sessionAt, async (m) => void routed.push(m.id), async (c) => void skipped.push(c.channelId));
    expect(count).toBe(250);
    expect(routed).toEqual(written.map((m) => m.id));
    expect(skipped).toEqual(['gone']);
  });

  it('reads each channel on the shard its guild is on', () => {
    expect(shardOf(undefined, 4)).toBe(0);
    expect(shardOf('41771983423143937', 1)).toBe(0);
    expect(shardOf(((5n << 22n) | 123n).toString(), 4)).toBe(1);
  });
});

describe('changedWhileAway', () => {
  const T = Date.UTC(2026, 11, 7, 12);
  const AWAY = { heardAt: T - 10_000, sessionAt: T };
  const msg = (ms: number, editedAt?: number) => ({ ...at(ms), edited_timestamp: editedAt === undefined ? null : new Date(editedAt).toISOString() }) as APIMessage;
  const ids = (ms: APIMessage[]) => ms.map((m) => m.id);

  it('takes a held message missing from a page holding the whole channel for deleted, and the page\'s edited held ones for edited', () => {
    const [a, b, c] = [msg(T - 3000), msg(T - 2000, T - 500), msg(T - 1000)];
    const changed = changedWhileAway([a, b, c], [b, c], 100, AWAY);
    expect(changed.deleted).toEqual([a.id]);
    expect(ids(changed.edited)).toEqual([b.id]);
  });

  it('judges no message older than a full page covers, nor one written after the session began', () => {
    const older = msg(T - 60_000);
    const page = Array.from({ length: 100 }, (_, i) => msg(T - 50_000 + i * 10));
    const afterSession = msg(T + 500);
    expect(changedWhileAway([older, ...page, afterSession], page, 100, AWAY).deleted).toEqual([]);
    // Without the page's bound, the older one would be taken for deleted.
    expect(changedWhileAway([older, ...page.slice(1)], page.slice(1), 100, AWAY).deleted).toEqual([older.id]);
  });

  it('judges nothing from an empty page, and takes no edited message it does not hold', () => {
    expect(changedWhileAway([msg(T - 1000)], [], 100, AWAY)).toEqual({ deleted: [], edited: [] });
    expect(changedWhileAway([], [msg(T - 1000, T - 500)], 100, AWAY).edited).toEqual([]);
  });

  it('takes only edits made while no session existed: one the gateway saw live (before it last heard the channel) is not read again', () => {
    const seen = msg(T - 60_000, T - 30_000);
    const missed = msg(T - 60_000 + 1, T - 2000);
    expect(ids(changedWhileAway([seen, missed], [seen, missed], 100, AWAY).edited)).toEqual([missed.id]);
  });
});
