// The slash-command loader. Each command is a file here exporting `command: SlashCommand`.
import type { ChatInputCommandInteraction, RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';
import type { Logger } from '../core/log.ts';
import type { Persona } from '../personas/schema.ts';
import { command as personas } from './personas.ts';

export interface CommandContext {
  personas: readonly Persona[];
  env: Record<string, string | undefined>;
  log: Logger;
}

export interface SlashCommand {
  /** The definition registered with Discord. */
  data: RESTPostAPIChatInputApplicationCommandsJSONBody;
  execute(interaction: ChatInputCommandInteraction, ctx: CommandContext): Promise<unknown>;
}

/** Static imports keep the set explicit and type-checked; add a new command's file here. */
const ALL: SlashCommand[] = [personas];

export function loadCommands(): Map<string, SlashCommand> {
  return new Map(ALL.map((c) => [c.data.name, c]));
}
