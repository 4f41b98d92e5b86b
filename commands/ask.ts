// /ask <persona> <text> — puts a question to any persona, on the roster or not. The question is
// shown in the channel and the persona answers after the replies already queued here.
import { MessageFlags, SlashCommandBuilder } from 'discord.js';
import type { Turn } from '../core/turns.ts';
import { optionPersona, personaChoices, personaOption, placeOf, type SlashCommand } from './index.ts';

/** Discord allows 2,000 characters a message; the question shares it with a short header. */
const MAX_QUESTION = 1800;

export const command: SlashCommand = {
  data: new SlashCommandBuilder()
    .setName('ask')
    .setDescription('Ask a persona something')
    .addStringOption(personaOption())
    .addStringOption((o) => o.setName('text').setDescription('Your question').setRequired(true).setMaxLength(MAX_QUESTION))
    .toJSON(),
  async execute(interaction, s) {
    const persona = await optionPersona(interaction, s);
    if (!persona) return;
    const text = interaction.options.getString('text', true).slice(0, MAX_QUESTION);
    await interaction.deferReply();
    const asker = interaction.member && 'displayName' in interaction.member ? interaction.member.displayName : interaction.user.displayName;
    const shown = await interaction.editReply({ content: `**${asker}** asks **${persona.name}**: ${text}`, allowedMentions: { parse: [] } });
    const place = placeOf(interaction);
    const turn: Turn = {
      v: 2,
      ...place,
      personaId: persona.id,
      reason: 'ask',
      depth: 1,
      trigger: { id: shown.id, authorId: interaction.user.id, authorName: asker, content: text, isBot: false, createdAt: shown.createdAt.toISOString() },
      receivedAt: Date.now(),
    };
    await s.turns.append([turn]);
    s.log.info({ channelId: place.channelId, personaId: persona.id, by: interaction.user.id }, 'asked');
  },
  autocomplete: personaChoices,
};
