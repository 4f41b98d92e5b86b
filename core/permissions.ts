// Discord permission arithmetic chorus needs, as Discord documents it. Pure.
import { PermissionFlagsBits } from 'discord-api-types/v10';

export type PermissionName = keyof typeof PermissionFlagsBits;

const ALL = Object.values(PermissionFlagsBits).reduce((a, b) => a | b, 0n);

/**
 * A member's permissions in the guild as a whole (no channel overwrites): @everyone's and those of
 * each of their roles; the owner and administrators have every permission.
 */
export function guildPermissions(o: { guildId: string; userId: string; ownerId?: string; memberRoles: readonly string[]; rolePermissions: ReadonlyMap<string, string> }): bigint {
  if (o.ownerId !== undefined && o.userId === o.ownerId) return ALL;
  let perms = BigInt(o.rolePermissions.get(o.guildId) ?? '0'); // @everyone shares the guild's id
  for (const role of o.memberRoles) perms |= BigInt(o.rolePermissions.get(role) ?? '0');
  return perms & PermissionFlagsBits.Administrator ? ALL : perms;
}

export function has(perms: bigint | string | undefined, name: PermissionName): boolean {
  if (perms === undefined) return false;
  const bits = typeof perms === 'string' ? BigInt(perms) : perms;
  const flag = PermissionFlagsBits[name];
  return (bits & PermissionFlagsBits.Administrator) !== 0n || (bits & flag) === flag;
}

export function isPermissionName(name: string): name is PermissionName {
  return Object.hasOwn(PermissionFlagsBits, name);
}

/** "ManageChannels" → "Manage Channels", for messages to people. */
export function permissionLabel(name: string): string {
  return name.replace(/([a-z])([A-Z])/g, '$1 $2');
}
