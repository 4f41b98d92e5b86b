// /dismiss <persona> — removes a persona from this channel's roster (moderators). It can still be
// asked by name; it just stops joining in.
import { MessageFlags, SlashCommandBuilder } from 'discord.js';
import { optionPersona, personaChoices, personaOption, placeOf, refuseUnlessModerator, type SlashCommand } from './index.ts';

export const command: SlashCommand = {
  data: new SlashCommandBuilder()
    .setName('dismiss')
    .setDescription('Send a persona away from this channel')
    .addStringOption(personaOption())
    .toJSON(),
  async execute(interaction, s) {
    if (await refuseUnlessModerator(interaction, s)) return;
    const persona = await optionPersona(interaction, s);
    if (!persona) return;
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const place = placeOf(interaction);
    const { values } = await s.settings.resolve(place);
    if (!values.roster.includes(persona.id)) return interaction.editReply(`${persona.name} is not on this channel's roster.`);
    await s.settings.set('channel', place.channelId, 'roster', values.roster.filter((id) => id !== persona.id));
    s.log.info({ channelId: place.channelId, personaId: persona.id, by: interaction.user.id }, 'persona dismissed');
    return interaction.editReply(`${persona.name} has left this channel; it still answers when asked by name or with /ask.`);
  },
  autocomplete: personaChoices,
};
