// The test API for roles and permissions: guild roles, member roles, channel overwrites.
import { channelById, guildById, permissionsIn } from './core.ts';
import type { Core } from './core.ts';
import { toBits } from './permissions.ts';
import { createRole, deleteRole, overwrite, roleById, roleUpdated, setMemberRole } from './roles.ts';
import type { OverwriteTarget } from './roles.ts';
import type { DiscordStandIn } from './types.ts';

type RoleApi = Pick<DiscordStandIn, 'denyPermission' | 'allowPermission' | 'permissionsIn' | 'addRole' | 'editRole' | 'deleteRole' | 'giveRole' | 'takeRole'>;

export function createRoleApi(core: Core): RoleApi {
  return {
    denyPermission(channelId, permissionOrTarget, permission) {
      // Two arguments: the bot is denied (a member overwrite, so the client's cache sees it too).
      if (typeof permissionOrTarget === 'string') return overwrite(core, channelId, { userId: core.botUser.id }, permissionOrTarget, 'deny');
      if (!permission) throw new Error('stand-in: denyPermission(channel, target, permission)');
      overwrite(core, channelId, permissionOrTarget, permission, 'deny');
    },
    allowPermission(channelId, target: OverwriteTarget, permission) {
      overwrite(core, channelId, target, permission, 'allow');
    },
    permissionsIn: (channelId, userId) => permissionsIn(core, channelById(core, channelId), userId).toString(),
    addRole(o) {
      const guild = guildById(core, o.guildId ?? core.guildId);
      const role = createRole(core, guild, {
        name: o.name,
        mentionable: o.mentionable ?? false,
        ...(o.permissions !== undefined ? { permissions: toBits(o.permissions).toString() } : {}),
      });
      return role.id;
    },
    editRole(roleId, patch) {
      const { guild, role } = roleById(core, roleId);
      if (patch.name !== undefined) role.name = patch.name;
      if (patch.mentionable !== undefined) role.mentionable = patch.mentionable;
      if (patch.permissions !== undefined) role.permissions = toBits(patch.permissions).toString();
      roleUpdated(core, guild, role);
    },
    deleteRole(roleId) {
      const { guild, role } = roleById(core, roleId);
      if (role.id === guild.id) throw new Error('stand-in: @everyone cannot be deleted');
      deleteRole(core, guild, role);
    },
    giveRole: (userId, roleId) => setMemberRole(core, userId, roleId, true),
    takeRole: (userId, roleId) => setMemberRole(core, userId, roleId, false),
  };
}
