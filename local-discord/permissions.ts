// Permissions as Discord computes them (developers/topics/permissions: "Permission Overwrites"):
// @everyone + the member's roles, Administrator or ownership → all; then the channel's overwrites
// for @everyone, the member's roles (allow/deny merged), the member. Threads use their parent.
import { PermissionFlagsBits } from 'discord-api-types/v10';
import type { StandInChannel, StandInGuild } from './model.ts';

/** discord.js's / discord-api-types' names: 'SendMessages', 'ManageWebhooks', 'ViewChannel', ... */
export type PermissionName = keyof typeof PermissionFlagsBits;

export const PERMISSION_BITS: Readonly<Record<PermissionName, bigint>> = PermissionFlagsBits;

/** Every permission bit Discord defines (what Administrator and ownership grant). */
export const ALL_PERMISSIONS = Object.values(PermissionFlagsBits).reduce((a, b) => a | b, 0n);

const P = PermissionFlagsBits;

/** Discord's default @everyone permissions for a new server. */
export const EVERYONE_PERMISSIONS = 2248473465835073n;

/** What the bot's managed role grants (an invite asking for what chorus uses, not Administrator). */
export const BOT_PERMISSIONS = P.ViewChannel | P.SendMessages | P.SendMessagesInThreads | P.CreatePublicThreads | P.EmbedLinks
  | P.AttachFiles | P.ReadMessageHistory | P.ManageWebhooks | P.ManageRoles | P.ManageMessages | P.ManageThreads;

/**
 * The default person's moderator role: Discord's default member set plus Administrator, Manage
 * Channels, Manage Guild, Manage Roles and Manage Webhooks.
 */
export const MODERATOR_PERMISSIONS = EVERYONE_PERMISSIONS | P.Administrator | P.ManageChannels | P.ManageGuild | P.ManageRoles | P.ManageWebhooks;

export function toBits(p: string | bigint | readonly PermissionName[]): bigint {
  if (typeof p === 'bigint') return p;
  if (typeof p === 'string') return BigInt(p);
  return p.reduce((bits, name) => bits | bitOf(name), 0n);
}

export function bitOf(name: string): bigint {
  const bit = (PERMISSION_BITS as Record<string, bigint>)[name];
  if (bit === undefined) throw new Error(`stand-in: unknown permission ${name}`);
  return bit;
}

/** compute_base_permissions of Discord's pseudocode. */
export function basePermissions(guild: StandInGuild, userId: string): bigint {
  if (guild.ownerId === userId) return ALL_PERMISSIONS;
  const member = guild.members.get(userId);
  let bits = 0n;
  for (const r of guild.roles) {
    if (r.id === guild.id || member?.roles.includes(r.id)) bits |= BigInt(r.permissions);
  }
  return bits & P.Administrator ? ALL_PERMISSIONS : bits;
}

/**
 * compute_overwrites of Discord's pseudocode. Implicit denials (no View Channel → nothing) are
 * left to the checks, as Discord's docs describe them: not explicitly denied, but ignored.
 */
export function channelPermissions(guild: StandInGuild, userId: string, channel: StandInChannel, parentOf: (id: string) => StandInChannel | undefined): bigint {
  const base = basePermissions(guild, userId);
  if (base & P.Administrator) return ALL_PERMISSIONS;
  // Threads have no overwrites of their own: they inherit the parent's.
  const source = channel.parent_id && (channel.type === 10 || channel.type === 11 || channel.type === 12) ? (parentOf(channel.parent_id) ?? channel) : channel;
  const overwrites = source.permission_overwrites ?? [];
  const roles = guild.members.get(userId)?.roles ?? [];
  let bits = base;
  const everyone = overwrites.find((o) => o.id === guild.id);
  if (everyone) bits = (bits & ~BigInt(everyone.deny)) | BigInt(everyone.allow);
  let allow = 0n;
  let deny = 0n;
  for (const o of overwrites) {
    if (o.type === 0 && o.id !== guild.id && roles.includes(o.id)) {
      allow |= BigInt(o.allow);
      deny |= BigInt(o.deny);
    }
  }
  bits = (bits & ~deny) | allow;
  const member = overwrites.find((o) => o.type === 1 && o.id === userId);
  if (member) bits = (bits & ~BigInt(member.deny)) | BigInt(member.allow);
  return bits;
}

/** Sets (allow) or clears (deny) one bit of a role's or member's overwrite; a bit is never both. */
export function setOverwrite(channel: StandInChannel, target: { id: string; type: 0 | 1 }, bit: bigint, how: 'allow' | 'deny'): void {
  const list = channel.permission_overwrites ?? [];
  const existing = list.find((o) => o.id === target.id);
  let allow = BigInt(existing?.allow ?? '0');
  let deny = BigInt(existing?.deny ?? '0');
  if (how === 'allow') {
    allow |= bit;
    deny &= ~bit;
  } else {
    deny |= bit;
    allow &= ~bit;
  }
  const next = { id: target.id, type: target.type, allow: allow.toString(), deny: deny.toString() };
  channel.permission_overwrites = [...list.filter((o) => o.id !== target.id), next];
}
