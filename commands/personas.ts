// /personas — who can be talked to here, which are unavailable, and their lifecycle dates.
import { MessageFlags, SlashCommandBuilder } from 'discord.js';
import { availability } from '../personas/load.ts';
import { hostLabel, isHostUsable, type Persona } from '../personas/schema.ts';
import type { SlashCommand } from './index.ts';

export function describePersonas(personas: readonly Persona[], env: Record<string, string | undefined>): string {
  const lines = availability([...personas], env).map(({ persona, usableHosts, missingKeys }) => {
    const host = persona.hosts.find((h) => isHostUsable(h, env));
    const dates = [
      persona.lifecycle.released && `released ${persona.lifecycle.released}`,
      persona.lifecycle.deprecated && `deprecated ${persona.lifecycle.deprecated}`,
      persona.lifecycle.retired && `retired by its maker ${persona.lifecycle.retired}`,
      persona.lifecycle.knowledgeCutoff && `knowledge to ${persona.lifecycle.knowledgeCutoff}`,
    ].filter(Boolean);
    const status = usableHosts > 0 ? `via ${host ? hostLabel(host) : '?'} (${usableHosts}/${persona.hosts.length} hosts)` : `**unavailable** (unset: ${missingKeys.join(', ')})`;
    const aliases = persona.aliases.length ? ` — also "${persona.aliases.join('", "')}"` : '';
    return `**${persona.name}**${aliases}: ${status}${dates.length ? `\n-# ${dates.join(' · ')}` : ''}`;
  });
  return `Personas answer when you name them or reply to their posts.\n\n${lines.join('\n')}`.slice(0, 2000);
}

export const command: SlashCommand = {
  data: new SlashCommandBuilder().setName('personas').setDescription('List the personas, their hosts and lifecycle dates').toJSON(),
  async execute(interaction, ctx) {
    await interaction.reply({ content: describePersonas(ctx.personas, ctx.env), flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
  },
};
