// Who the bot is: its application id (webhooks it creates carry it) and its user id (its own
// messages carry it). Asked of Discord once (`GET /applications/@me`, `GET /users/@me`) and kept in
// Redis. Discord does not document the token's layout, so nothing is read from the token.
import type { REST } from '@discordjs/rest';
import { Routes, type APIApplication, type APIUser } from 'discord-api-types/v10';
import type { Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import { idempotent } from './rest.ts';

export interface BotIdentity {
  applicationId(): Promise<string>;
  botUserId(): Promise<string>;
  /** What the gateway's READY said, so no process has to ask. */
  remember(ids: { applicationId?: string; botUserId?: string }): Promise<void>;
}

export function createBotIdentity(rest: REST, redis: Redis, prefix: string, token: string): BotIdentity {
  // Keyed by a hash of the token, so a new bot token in the same Redis is asked about afresh.
  const tokenHash = createHash('sha256').update(token).digest('hex').slice(0, 16);
  const keyOf = (name: string) => `${prefix}:${name}:${tokenHash}`;
  const remembered = (name: string, ask: () => Promise<string>): (() => Promise<string>) => {
    const key = keyOf(name);
    let known: Promise<string> | undefined;
    return () => {
      known ??= (async () => {
        const cached = await redis.get(key);
        if (cached) return cached;
        const id = await ask();
        await redis.set(key, id);
        return id;
      })();
      known.catch(() => (known = undefined)); // a failed look-up is asked again next time
      return known;
    };
  };
  return {
    applicationId: remembered('application-id', async () => ((await idempotent(() => rest.get(Routes.currentApplication()))) as APIApplication).id),
    botUserId: remembered('bot-user-id', async () => ((await idempotent(() => rest.get(Routes.user('@me')))) as APIUser).id),
    async remember(ids) {
      const m = redis.multi();
      if (ids.applicationId) m.set(keyOf('application-id'), ids.applicationId);
      if (ids.botUserId) m.set(keyOf('bot-user-id'), ids.botUserId);
      await m.exec();
    },
  };
}
