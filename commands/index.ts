// The slash-command loader, and what every command shares: permission checks and replies.
import {
  MessageFlags,
  PermissionFlagsBits,
  type AutocompleteInteraction,
  type ChatInputCommandInteraction,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
  type SlashCommandStringOption,
} from 'discord.js';
import type { Services } from '../bot/services.ts';
import type { Persona } from '../personas/schema.ts';
import { command as ask } from './ask.ts';
import { command as config } from './config.ts';
import { command as dismiss } from './dismiss.ts';
import { command as persona } from './persona.ts';
import { command as personas } from './personas.ts';
import { command as interview } from './interview.ts';
import { command as summon } from './summon.ts';
import { command as transcript } from './transcript.ts';

export interface SlashCommand {
  /** The definition registered with Discord. */
  data: RESTPostAPIChatInputApplicationCommandsJSONBody;
  execute(interaction: ChatInputCommandInteraction, s: Services): Promise<unknown>;
  autocomplete?(interaction: AutocompleteInteraction, s: Services): Promise<unknown>;
}

/** Static imports keep the set explicit and type-checked; add a new command's file here. */
const ALL: SlashCommand[] = [personas, persona, summon, dismiss, ask, config, interview, transcript];

export function loadCommands(): Map<string, SlashCommand> {
  return new Map(ALL.map((c) => [c.data.name, c]));
}

/** Moderation needs the configured permission; everyone else gets a clear, private refusal. */
export async function refuseUnlessModerator(interaction: ChatInputCommandInteraction, s: Services): Promise<boolean> {
  const name = s.config.MOD_PERMISSION as keyof typeof PermissionFlagsBits;
  const flag = PermissionFlagsBits[name];
  if (flag !== undefined && interaction.memberPermissions?.has(flag)) return false;
  const why = flag === undefined ? `the configured MOD_PERMISSION "${name}" is not a Discord permission` : `you need the ${name.replace(/([a-z])([A-Z])/g, '$1 $2')} permission`;
  await interaction.reply({ content: `Sorry — ${why} to use /${interaction.commandName}.`, flags: MessageFlags.Ephemeral });
  return true;
}

/** Finds a persona by id, name or alias, as typed or picked from autocomplete. */
export function findPersona(personas: readonly Persona[], query: string): Persona | undefined {
  const q = query.trim().toLowerCase();
  return personas.find((p) => p.id === q || p.name.toLowerCase() === q || p.aliases.some((a) => a.toLowerCase() === q));
}

/** Autocomplete choices for a persona option: matching names first, at most Discord's 25. */
export async function personaChoices(interaction: AutocompleteInteraction, s: Services): Promise<void> {
  const typed = interaction.options.getFocused().toLowerCase();
  const matches = s.personas.filter((p) => !typed || p.id.includes(typed) || p.name.toLowerCase().includes(typed) || p.aliases.some((a) => a.toLowerCase().includes(typed)));
  await interaction.respond(matches.slice(0, 25).map((p) => ({ name: p.name, value: p.id })));
}

/** The required, autocompleted persona option the persona commands take. */
export function personaOption(name = 'persona') {
  return (o: SlashCommandStringOption) => o.setName(name).setDescription('Persona').setRequired(true).setAutocomplete(true);
}

/** The persona an option names; undefined once the user has been told, privately, there is none. */
export async function optionPersona(interaction: ChatInputCommandInteraction, s: Services, name = 'persona'): Promise<Persona | undefined> {
  const query = interaction.options.getString(name, true);
  const persona = findPersona(s.personas, query);
  if (!persona) await interaction.reply({ content: unknownPersona(query), flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
  return persona;
}

export function unknownPersona(query: string): string {
  return `There is no persona called "${query.slice(0, 80)}". Try /personas to see who is here.`;
}

/** Where a command acts: the channel, the guild, and a thread's parent (whose settings it inherits). */
export function placeOf(interaction: ChatInputCommandInteraction): { guildId?: string; channelId: string; parentId?: string } {
  const channel = interaction.channel;
  const parentId = channel?.isThread() ? (channel.parentId ?? undefined) : undefined;
  return { ...(interaction.guildId ? { guildId: interaction.guildId } : {}), channelId: interaction.channelId, ...(parentId ? { parentId } : {}) };
}
