// Each persona's mentionable role in a guild, so people can @-address personas like members.
// Discord holds the roles; Redis remembers which role stands for which persona.
import type { Redis } from 'ioredis';

export interface PersonaRoles {
  roleOf(guildId: string, personaId: string): Promise<string | undefined>;
  /** Persona ids for the given role ids (unknown roles are left out). */
  personasOf(guildId: string, roleIds: readonly string[]): Promise<Map<string, string>>;
  remember(guildId: string, personaId: string, roleId: string): Promise<void>;
  forget(guildId: string, personaId: string): Promise<void>;
}

export function createPersonaRoles(redis: Redis, prefix: string): PersonaRoles {
  const key = (guildId: string) => `${prefix}:persona-roles:${guildId}`;
  return {
    async roleOf(guildId, personaId) {
      return (await redis.hget(key(guildId), personaId)) ?? undefined;
    },
    async personasOf(guildId, roleIds) {
      const found = new Map<string, string>();
      if (roleIds.length === 0) return found;
      const all = await redis.hgetall(key(guildId));
      for (const [personaId, roleId] of Object.entries(all)) if (roleIds.includes(roleId)) found.set(roleId, personaId);
      return found;
    },
    async remember(guildId, personaId, roleId) {
      await redis.hset(key(guildId), personaId, roleId);
    },
    async forget(guildId, personaId) {
      await redis.hdel(key(guildId), personaId);
    },
  };
}
