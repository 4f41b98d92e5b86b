// Guild roles, member roles and channel overwrites, with the events Discord sends for each change.
import { channelById, guildById, Intents, joinGuild, lastMessageId } from './core.ts';
import type { Core } from './core.ts';
import { wireGuildMember } from './guilds.ts';
import { isThread, wireChannel, wireRole, wireUser } from './model.ts';
import type { StandInGuild, StandInRole } from './model.ts';
import { bitOf, setOverwrite } from './permissions.ts';

export function roleById(core: Core, roleId: string): { guild: StandInGuild; role: StandInRole } {
  for (const guild of core.guilds.values()) {
    const role = guild.roles.find((r) => r.id === roleId);
    if (role) return { guild, role };
  }
  throw new Error(`stand-in: unknown role ${roleId}`);
}

/** New roles sit just above @everyone, as Discord places them; GUILD_ROLE_CREATE. */
export function createRole(core: Core, guild: StandInGuild, fields: Partial<StandInRole>): StandInRole {
  const everyone = guild.roles.find((r) => r.id === guild.id);
  const role: StandInRole = { id: core.nextId(), name: 'new role', permissions: everyone?.permissions ?? '0', position: 1, managed: false, mentionable: false, ...fields };
  guild.roles.push(role);
  core.dispatch('GUILD_ROLE_CREATE', { guild_id: guild.id, role: wireRole(role) }, { intent: Intents.Guilds });
  return role;
}

export function roleUpdated(core: Core, guild: StandInGuild, role: StandInRole): void {
  core.dispatch('GUILD_ROLE_UPDATE', { guild_id: guild.id, role: wireRole(role) }, { intent: Intents.Guilds });
}

/** GUILD_ROLE_DELETE; members lose the role (GUILD_MEMBER_UPDATE for each, see memberUpdated). */
export function deleteRole(core: Core, guild: StandInGuild, role: StandInRole): void {
  guild.roles.splice(guild.roles.indexOf(role), 1);
  core.dispatch('GUILD_ROLE_DELETE', { guild_id: guild.id, role_id: role.id }, { intent: Intents.Guilds });
  for (const m of guild.members.values()) {
    if (!m.roles.includes(role.id)) continue;
    m.roles = m.roles.filter((r) => r !== role.id);
    memberUpdated(core, guild, m.userId);
  }
}

export function setMemberRole(core: Core, userId: string, roleId: string, has: boolean): void {
  const { guild, role } = roleById(core, roleId);
  if (role.id === guild.id) throw new Error('stand-in: every member has @everyone');
  const m = joinGuild(core, guild.id, userId);
  if (m.roles.includes(roleId) === has) return;
  m.roles = has ? [...m.roles, roleId] : m.roles.filter((r) => r !== roleId);
  memberUpdated(core, guild, userId);
}

/**
 * GUILD_MEMBER_UPDATE needs the GUILD_MEMBERS intent, except for the bot's own member, which
 * Discord sends regardless (developers/events/gateway#gateway-intents).
 */
function memberUpdated(core: Core, guild: StandInGuild, userId: string): void {
  const user = core.users.get(userId) ?? { id: userId, username: `user${userId.slice(-4)}` };
  const d = { ...wireGuildMember(guild, userId), guild_id: guild.id, user: wireUser(user) };
  core.dispatch('GUILD_MEMBER_UPDATE', d, userId === core.botUser.id ? {} : { intent: Intents.GuildMembers });
}

export type OverwriteTarget = { userId: string } | { roleId: string };

/**
 * Allows or denies one permission to a member or role in a channel (CHANNEL_UPDATE). Threads have
 * no overwrites of their own in Discord (they inherit the parent's), so a thread is refused.
 */
export function overwrite(core: Core, channelId: string, target: OverwriteTarget, permission: string, how: 'allow' | 'deny'): void {
  const c = channelById(core, channelId);
  if (isThread(c)) throw new Error('stand-in: threads inherit their parent\'s overwrites; set the permission on the parent channel');
  const guild = guildById(core, c.guild_id);
  const t = 'userId' in target ? { id: target.userId, type: 1 as const } : { id: target.roleId, type: 0 as const };
  if (t.type === 0 && !guild.roles.some((r) => r.id === t.id)) throw new Error(`stand-in: role ${t.id} is not in guild ${guild.id}`);
  setOverwrite(c, t, bitOf(permission), how);
  core.dispatch('CHANNEL_UPDATE', wireChannel(c, lastMessageId(core, c.id)), { intent: Intents.Guilds });
}
