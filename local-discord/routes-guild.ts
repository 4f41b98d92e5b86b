// REST routes of the stand-in: guild roles.
import { Intents } from './core.ts';
import type { Core } from './core.ts';
import { wireRole } from './model.ts';
import type { StandInRole } from './model.ts';
import { DEFAULT, fail, formError, ID } from './routing.ts';
import type { Ctx, RouteFn } from './routing.ts';

export function guildRoutes(core: Core, route: RouteFn): void {
  const guild = (id: string) => (id === core.guildId ? id : fail(404, 10004, 'Unknown Guild'));
  const role = (id: string): StandInRole => core.roles.find((r) => r.id === id) ?? fail(404, 10011, 'Unknown Role');

  function applyFields(r: StandInRole, body: Ctx['body']): void {
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
    guild(params[0] ?? '');
    return { status: 200, body: core.roles.map(wireRole) };
  });
  route('POST', `/guilds/${ID}/roles`, 'bot', DEFAULT, ({ params, body }) => {
    guild(params[0] ?? '');
    if (core.roles.length >= 250) fail(400, 30005, 'Maximum number of guild roles reached (250)');
    // New roles sit just above @everyone; Discord orders equal positions by id.
    const everyone = core.roles.find((r) => r.id === core.guildId);
    const r: StandInRole = { id: core.nextId(), name: 'new role', permissions: everyone?.permissions ?? '0', position: 1, managed: false, mentionable: false };
    applyFields(r, body);
    core.roles.push(r);
    core.dispatch('GUILD_ROLE_CREATE', { guild_id: core.guildId, role: wireRole(r) }, { intent: Intents.Guilds });
    return { status: 200, body: wireRole(r) };
  });
  route('PATCH', `/guilds/${ID}/roles/${ID}`, 'bot', DEFAULT, ({ params, body }) => {
    guild(params[0] ?? '');
    const r = role(params[1] ?? '');
    if (r.id === core.guildId && body.name !== undefined && body.name !== r.name) fail(400, 50028, 'Invalid Role');
    applyFields(r, body);
    core.dispatch('GUILD_ROLE_UPDATE', { guild_id: core.guildId, role: wireRole(r) }, { intent: Intents.Guilds });
    return { status: 200, body: wireRole(r) };
  });
  route('DELETE', `/guilds/${ID}/roles/${ID}`, 'bot', DEFAULT, ({ params }) => {
    guild(params[0] ?? '');
    const r = role(params[1] ?? '');
    if (r.id === core.guildId || r.managed) fail(400, 50028, 'Invalid Role');
    core.roles.splice(core.roles.indexOf(r), 1);
    core.dispatch('GUILD_ROLE_DELETE', { guild_id: core.guildId, role_id: r.id }, { intent: Intents.Guilds });
    return { status: 204 };
  });
}
