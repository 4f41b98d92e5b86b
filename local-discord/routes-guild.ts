// REST routes of the stand-in: guild roles (the bot needs Manage Roles).
import type { Core } from './core.ts';
import { wireRole } from './model.ts';
import type { StandInGuild, StandInRole } from './model.ts';
import { createRole, deleteRole, roleUpdated } from './roles.ts';
import { DEFAULT, fail, formError, ID } from './routing.ts';
import type { Ctx, Helpers, RouteFn } from './routing.ts';

export function guildRoutes(core: Core, route: RouteFn, h: Helpers): void {
  const role = (g: StandInGuild, id: string): StandInRole => g.roles.find((r) => r.id === id) ?? fail(404, 10011, 'Unknown Role');

  function applyFields(r: Partial<StandInRole>, body: Ctx['body']): void {
    if (body.name !== undefined && body.name !== null) {
      if (typeof body.name !== 'string' || body.name.length > 100) formError('name', 'BASE_TYPE_MAX_LENGTH', 'Must be 100 or fewer in length.');
      r.name = String(body.name);
    }
    if (body.permissions !== undefined && body.permissions !== null) {
      if (!/^\d+$/.test(String(body.permissions))) formError('permissions', 'NUMBER_TYPE_COERCE', `Value "${String(body.permissions)}" is not int.`);
      r.permissions = String(body.permissions);
    }
    if (typeof body.color === 'number') r.color = body.color;
    // Newer clients send role colours as colors.primary_color (gradients need guild features).
    const colors = body.colors as { primary_color?: unknown } | undefined;
    if (typeof colors?.primary_color === 'number') r.color = colors.primary_color;
    if (typeof body.hoist === 'boolean') r.hoist = body.hoist;
    if (typeof body.mentionable === 'boolean') r.mentionable = body.mentionable;
  }

  route('GET', `/guilds/${ID}/roles`, 'bot', DEFAULT, ({ params }) => {
    const g = core.guilds.get(params[0] ?? '') ?? fail(404, 10004, 'Unknown Guild');
    return { status: 200, body: g.roles.map(wireRole) };
  });
  route('POST', `/guilds/${ID}/roles`, 'bot', DEFAULT, ({ params, body }) => {
    const g = h.requireGuildPermission(params[0] ?? '', 'ManageRoles');
    if (g.roles.length >= 250) fail(400, 30005, 'Maximum number of guild roles reached (250)');
    const fields: Partial<StandInRole> = {};
    applyFields(fields, body);
    return { status: 200, body: wireRole(createRole(core, g, fields)) };
  });
  route('PATCH', `/guilds/${ID}/roles/${ID}`, 'bot', DEFAULT, ({ params, body }) => {
    const g = h.requireGuildPermission(params[0] ?? '', 'ManageRoles');
    const r = role(g, params[1] ?? '');
    if (r.id === g.id && body.name !== undefined && body.name !== r.name) fail(400, 50028, 'Invalid Role');
    applyFields(r, body);
    roleUpdated(core, g, r);
    return { status: 200, body: wireRole(r) };
  });
  route('DELETE', `/guilds/${ID}/roles/${ID}`, 'bot', DEFAULT, ({ params }) => {
    const g = h.requireGuildPermission(params[0] ?? '', 'ManageRoles');
    const r = role(g, params[1] ?? '');
    if (r.id === g.id || r.managed) fail(400, 50028, 'Invalid Role');
    deleteRole(core, g, r);
    return { status: 204 };
  });
}
