// Each persona's mentionable role in a guild, so people can @-address personas like members. Made
// when a persona is summoned (never for every guild at start-up: with many guilds that burst of
// requests would crowd out replies). Needs the Manage Roles permission; without it, naming and
// replying still work.
import { Routes, type APIRole } from 'discord-api-types/v10';
import { describeError } from '../core/log.ts';
import type { Persona } from '../personas/schema.ts';
import type { Services } from './services.ts';

export async function ensurePersonaRole(s: Pick<Services, 'rest' | 'roles' | 'log' | 'guildFacts'>, guildId: string, persona: Persona): Promise<string | undefined> {
  const known = await s.roles.roleOf(guildId, persona.id);
  // A role deleted in Discord is forgotten when the gateway hears of it (GUILD_ROLE_DELETE).
  if (known) return known;
  try {
    const role = (await s.rest.post(Routes.guildRoles(guildId), { body: { name: persona.name, mentionable: true, permissions: '0' }, reason: `chorus persona ${persona.id}` })) as APIRole;
    await s.roles.remember(guildId, persona.id, role.id);
    s.guildFacts.learnRole(guildId, { id: role.id, name: role.name, permissions: role.permissions, position: role.position });
    return role.id;
  } catch (err) {
    s.log.warn({ guildId, personaId: persona.id, err: describeError(err).message }, 'could not create the persona role (Manage Roles permission?)');
    return undefined;
  }
}
