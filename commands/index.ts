// The slash-command registry: every command, by name. Add a new command's file here.
import { command as ask } from './ask.ts';
import { command as config } from './config.ts';
import { command as dismiss } from './dismiss.ts';
import { command as interview } from './interview.ts';
import { command as persona } from './persona.ts';
import { command as personas } from './personas.ts';
import type { SlashCommand } from './shared.ts';
import { command as summon } from './summon.ts';
import { command as transcript } from './transcript.ts';

import { InteractionContextType } from 'discord-api-types/v10';

export type { SlashCommand } from './shared.ts';

/** Static imports keep the set explicit and type-checked. */
const ALL: SlashCommand[] = [personas, persona, summon, dismiss, ask, config, interview, transcript];

export function loadCommands(): Map<string, SlashCommand> {
  return new Map(ALL.map((c) => [c.name, c]));
}

/**
 * Every command's definition, as Discord registers it: usable in servers only (`contexts: [0]`).
 * Personas, rosters, settings and transcripts belong to a server's channels; a global command is
 * otherwise offered in DMs with the bot too, where no member's permissions can be checked.
 */
export async function commandDefinitions() {
  const builders = await import('@discordjs/builders');
  return ALL.map((c) => ({ ...c.define(builders), contexts: [InteractionContextType.Guild] }));
}
