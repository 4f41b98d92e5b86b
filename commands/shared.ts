// What the commands share: the command shape, permission checks, persona options and look-ups.
// The registry (index.ts) imports the commands; the commands import only this.
import type * as Builders from '@discordjs/builders';
import type { RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord-api-types/v10';
import type { Services } from '../bot/services.ts';
import { gzipSync } from 'node:zlib';
import type { AnswerFile, CommandContext } from '../bot/interactions.ts';
import { guildPermissions, has, isPermissionName, permissionLabel } from '../core/permissions.ts';
import type { Place } from '../core/replies.ts';
import type { Persona } from '../personas/schema.ts';

export interface SlashCommand {
  name: string;
  /**
   * The definition registered with Discord, built with @discordjs/builders when asked: only the
   * registering script loads the builders; the gateway (which runs commands) never needs them.
   */
  define(b: typeof Builders): RESTPostAPIChatInputApplicationCommandsJSONBody;
  execute(ctx: CommandContext, s: Services): Promise<unknown>;
  autocomplete?(ctx: CommandContext, s: Services): Promise<unknown>;
}

/**
 * Moderation needs the configured permission — in this channel, or, for `scope: 'guild'`, in the
 * server as a whole (from the member's roles, not this channel's overwrites): a right over one
 * channel is not a right over every channel. Others get a clear, private refusal.
 */
export async function refuseUnlessModerator(ctx: CommandContext, s: Services, scope: 'channel' | 'guild' = 'channel'): Promise<boolean> {
  const name = s.config.MOD_PERMISSION;
  if (!isPermissionName(name)) {
    await ctx.reply(`Sorry — the configured MOD_PERMISSION "${name}" is not a Discord permission.`, { ephemeral: true });
    return true;
  }
  let allowed = ctx.memberCan(name);
  if (allowed && scope === 'guild') allowed = ctx.guildId !== undefined && has(await memberGuildPermissions(ctx, s), name);
  if (allowed) return false;
  const where = scope === 'guild' ? ' for the whole server (a role that grants it everywhere)' : '';
  await ctx.reply(`Sorry — you need the ${permissionLabel(name)} permission${where} to use /${ctx.commandName}${ctx.subcommand ? ` ${ctx.subcommand}` : ''}${scope === 'guild' ? ' at server scope' : ''}.`, { ephemeral: true });
  return true;
}

async function memberGuildPermissions(ctx: CommandContext, s: Services): Promise<bigint> {
  if (!ctx.guildId) return 0n;
  const { rolePermissions, ownerId } = await s.guildFacts.permissionsOf(ctx.guildId);
  return guildPermissions({ guildId: ctx.guildId, userId: ctx.user.id, ...(ownerId ? { ownerId } : {}), memberRoles: ctx.memberRoles, rolePermissions });
}

/** Finds a persona by id, name or alias, as typed or picked from autocomplete. */
export function findPersona(personas: readonly Persona[], query: string): Persona | undefined {
  const q = query.trim().toLowerCase();
  return personas.find((p) => p.id === q || p.name.toLowerCase() === q || p.aliases.some((a) => a.toLowerCase() === q));
}

/** Autocomplete choices for a persona option: matching names first, at most Discord's 25. */
export async function personaChoices(ctx: CommandContext, s: Services): Promise<void> {
  const typed = ctx.focused().toLowerCase();
  const matches = s.personas.filter((p) => !typed || p.id.includes(typed) || p.name.toLowerCase().includes(typed) || p.aliases.some((a) => a.toLowerCase().includes(typed)));
  await ctx.respond(matches.slice(0, 25).map((p) => ({ name: p.name, value: p.id })));
}

/** The required, autocompleted persona option the persona commands take. */
export function personaOption(name = 'persona') {
  return (o: Builders.SlashCommandStringOption) => o.setName(name).setDescription('Persona').setRequired(true).setAutocomplete(true);
}

/** The persona an option names; undefined once the user has been told, privately, there is none. */
export async function optionPersona(ctx: CommandContext, s: Services, name = 'persona'): Promise<Persona | undefined> {
  const query = ctx.string(name) ?? '';
  const persona = findPersona(s.personas, query);
  if (!persona) await ctx.reply(unknownPersona(query), { ephemeral: true });
  return persona;
}

export function unknownPersona(query: string): string {
  return `There is no persona called "${query.slice(0, 80)}". Try /personas to see who is here.`;
}

/** Room kept in an upload for the message and the form around the files. */
const UPLOAD_OVERHEAD = 64 * 1024;

/**
 * A transcript's files as Discord will take them in one answer (`limit`: its upload limit there): as
 * they are when they fit, else gzip-compressed (JSONL and Markdown shrink about tenfold), else none,
 * with the command that writes them on the server. A long recorded channel outgrows 10 MiB: the
 * upload was refused (413) and the export lost in "something went wrong".
 */
export function attachable(files: AnswerFile[], limit: number, sessionId: string): { files: AnswerFile[]; note: string } {
  const room = limit - UPLOAD_OVERHEAD;
  const size = (fs: AnswerFile[]) => fs.reduce((sum, f) => sum + f.data.length, 0);
  if (size(files) <= room) return { files, note: '' };
  const packed = files.map((f) => ({ name: `${f.name}.gz`, data: gzipSync(f.data) }));
  if (size(packed) <= room) return { files: packed, note: 'The files are gzip-compressed to fit what Discord takes here.' };
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
  return {
    files: [],
    note: `The files come to ${mb(size(packed))} even compressed, more than Discord takes here (${mb(limit)}): \`npm run export -- --to files --session ${sessionId}\` writes them on the server.`,
  };
}

/** Where a command acts: the channel, the guild, and a thread's parent (whose settings it inherits). */
export function placeOf(ctx: CommandContext): Place {
  return { ...(ctx.guildId ? { guildId: ctx.guildId } : {}), channelId: ctx.channelId, ...(ctx.parentId ? { parentId: ctx.parentId } : {}) };
}
