// Creates each persona's mentionable role on demand (needs the Manage Roles permission).
import type { Guild } from 'discord.js';
import type { Logger } from '../core/log.ts';
import type { PersonaRoles } from '../core/roles.ts';
import type { Persona } from '../personas/schema.ts';

export async function ensurePersonaRole(guild: Guild, persona: Persona, roles: PersonaRoles, log: Logger): Promise<string | undefined> {
  const known = await roles.roleOf(guild.id, persona.id);
  if (known && guild.roles.cache.has(known)) return known;
  try {
    const role = await guild.roles.create({ name: persona.name, mentionable: true, permissions: [], reason: `chorus persona ${persona.id}` });
    await roles.remember(guild.id, persona.id, role.id);
    return role.id;
  } catch (err) {
    log.warn({ guildId: guild.id, personaId: persona.id, err: (err as Error).message }, 'could not create the persona role (Manage Roles permission?)');
    return undefined;
  }
}
