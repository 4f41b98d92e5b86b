// The little the gateway needs to know about guilds, and no more: which channels are threads of
// which parent (settings and webhooks are the parent's), role names (for readable mentions) and
// permissions (for guild-wide commands), and guild owners. Learned from the gateway's own events;
// after a resumed session in a new process, when no GUILD_CREATE arrives, looked up once through
// Redis (where the gateway writes each channel's place for the workers too) or REST.
import type { REST } from '@discordjs/rest';
import { Routes, type APIGuild, type APIRole } from 'discord-api-types/v10';
import type { Redis } from 'ioredis';
import { CHANNEL_TARGET_SECONDS, channelTarget, channelTargetKey, lookUpChannelTarget } from '../core/channels.ts';
import { boundedMap } from '../core/bounded-map.ts';
import { idempotent } from '../core/rest.ts';
import type { Channel, Role } from './payloads.ts';


interface GuildRoles {
  names: Map<string, string>;
  permissions: Map<string, string>;
}

export interface GuildFacts {
  learnGuild(guild: { id: string; owner_id?: string | undefined; roles?: Role[] | undefined; channels?: Channel[] | undefined; threads?: Channel[] | undefined }): Promise<void>;
  learnChannels(channels: Channel[], guildId?: string): Promise<void>;
  /** The channel is gone: its target goes too. */
  forgetChannel(channelId: string): Promise<void>;
  /**
   * True once for a channel learned with no message ever sent and not spoken in since: the first
   * message recorded there completes its history, and no reply need read it from Discord.
   */
  claimEmpty(channelId: string): boolean;
  /**
   * The bot's roles or the guild's roles changed: a channel it could not see may be visible now, with
   * messages it never received, and Discord sends no channel event to say so. Its channels leave the
   * empty set (a reply reads their history from Discord once).
   */
  accessMayHaveChanged(guildId: string): void;
  forgetGuild(guildId: string): void;
  learnRole(guildId: string, role: Role): void;
  forgetRole(guildId: string, roleId: string): void;
  /** The parent of a thread; undefined for any other channel. */
  parentOf(channelId: string): Promise<string | undefined>;
  roleName(guildId: string, roleId: string): string | undefined;
  /**
   * Makes sure the names of these roles are known, reading the guild's roles from Discord when one
   * is not (a resumed session in a new process gets no GUILD_CREATE): a mention then reads "@Mods",
   * not "@unknown-role". Read at most once in ROLES_REREAD_MS per guild, however many are unknown.
   */
  knowRoles(guildId: string, roleIds: readonly string[]): Promise<void>;
  /** Role permissions of a guild (@everyone under the guild's id), and its owner. */
  permissionsOf(guildId: string): Promise<{ rolePermissions: Map<string, string>; ownerId?: string }>;
}

/** Channels and threads whose parent the gateway keeps in memory (about 130 B each). */
const REMEMBERED_PARENTS = 100_000;

/** How soon a guild's roles are read from Discord again for a role still unknown (one deleted, say). */
const ROLES_REREAD_MS = 10 * 60_000;

export function createGuildFacts(rest: REST, redis: Redis, prefix: string): GuildFacts {
  const rolesRead = new Map<string, { at: number; reading: Promise<void> }>();
  // null: known not to be a thread. Bounded: threads come and go for good, and one forgotten is read
  // again from Redis (or Discord) when next spoken in.
  const parents = boundedMap<string | null>(REMEMBERED_PARENTS);
  const roles = new Map<string, GuildRoles>();
  const owners = new Map<string, string>();
  // Channels learned with no message ever sent (Discord's last_message_id is null), not spoken in
  // since: their whole history is what the gateway records from now on.
  const empty = new Map<string, string | undefined>(); // channel → its guild

  async function learnChannels(channels: Channel[], guildId?: string): Promise<void> {
    if (channels.length === 0) return;
    const write = redis.multi();
    for (const c of channels) {
      // Every fresh session's GUILD_CREATEs tell each channel's last message again, so a channel
      // spoken in while no session existed leaves the set here.
      if (c.last_message_id === null) empty.set(c.id, c.guild_id ?? guildId);
      else if (c.last_message_id !== undefined) empty.delete(c.id);
      const target = channelTarget(c);
      parents.set(c.id, target.threadId ? target.webhookChannelId : null);
      write.set(channelTargetKey(prefix, c.id), JSON.stringify(target), 'EX', CHANNEL_TARGET_SECONDS);
    }
    await write.exec();
  }

  function rolesOf(guildId: string): GuildRoles {
    let r = roles.get(guildId);
    if (!r) roles.set(guildId, (r = { names: new Map(), permissions: new Map() }));
    return r;
  }

  return {
    async learnGuild(guild) {
      if (guild.owner_id) owners.set(guild.id, guild.owner_id);
      if (guild.roles) {
        const r: GuildRoles = { names: new Map(), permissions: new Map() };
        for (const role of guild.roles) {
          r.names.set(role.id, role.name);
          r.permissions.set(role.id, role.permissions);
        }
        roles.set(guild.id, r);
      }
      await learnChannels([...(guild.channels ?? []), ...(guild.threads ?? [])], guild.id);
    },
    learnChannels: (channels, guildId) => learnChannels(channels, guildId),
    claimEmpty: (channelId) => empty.delete(channelId),
    accessMayHaveChanged(guildId) {
      for (const [channelId, g] of empty) if (g === guildId || g === undefined) empty.delete(channelId);
    },
    async forgetChannel(channelId) {
      empty.delete(channelId);
      parents.delete(channelId);
      await redis.del(channelTargetKey(prefix, channelId));
    },
    forgetGuild(guildId) {
      roles.delete(guildId);
      owners.delete(guildId);
    },
    learnRole(guildId, role) {
      const r = rolesOf(guildId);
      r.names.set(role.id, role.name);
      r.permissions.set(role.id, role.permissions);
    },
    forgetRole(guildId, roleId) {
      roles.get(guildId)?.names.delete(roleId);
      roles.get(guildId)?.permissions.delete(roleId);
    },
    async parentOf(channelId) {
      const known = parents.get(channelId);
      if (known !== undefined) return known ?? undefined;
      const target = await lookUpChannelTarget(rest, redis, prefix, channelId);
      parents.set(channelId, target.threadId ? target.webhookChannelId : null);
      return target.threadId ? target.webhookChannelId : undefined;
    },
    roleName: (guildId, roleId) => roles.get(guildId)?.names.get(roleId),
    async knowRoles(guildId, roleIds) {
      if (roleIds.every((id) => roles.get(guildId)?.names.has(id))) return;
      const last = rolesRead.get(guildId);
      if (last && Date.now() - last.at < ROLES_REREAD_MS) return last.reading;
      const reading = (async () => {
        const list = (await idempotent(() => rest.get(Routes.guildRoles(guildId)))) as APIRole[];
        for (const role of list) this.learnRole(guildId, { id: role.id, name: role.name, permissions: role.permissions, position: role.position });
      })();
      rolesRead.set(guildId, { at: Date.now(), reading: reading.catch(() => undefined) });
      return reading;
    },
    async permissionsOf(guildId) {
      if (!roles.has(guildId) || !owners.has(guildId)) {
        const [list, guild] = (await Promise.all([
          idempotent(() => rest.get(Routes.guildRoles(guildId))),
          idempotent(() => rest.get(Routes.guild(guildId))),
        ])) as [APIRole[], APIGuild];
        for (const role of list) this.learnRole(guildId, { id: role.id, name: role.name, permissions: role.permissions, position: role.position });
        owners.set(guildId, guild.owner_id);
      }
      const owner = owners.get(guildId);
      return { rolePermissions: new Map(rolesOf(guildId).permissions), ...(owner ? { ownerId: owner } : {}) };
    },
  };
}
