// /summon <persona> — brings a persona into this channel's roster (moderators).
import { MessageFlags, SlashCommandBuilder } from 'discord.js';
import { ensurePersonaRole } from '../bot/roles.ts';
import { optionPersona, personaChoices, personaOption, placeOf, refuseUnlessModerator, type SlashCommand } from './index.ts';

export const command: SlashCommand = {
  data: new SlashCommandBuilder()
    .setName('summon')
    .setDescription('Bring a persona into this channel')
    .addStringOption(personaOption())
    .toJSON(),
  async execute(interaction, s) {
    if (await refuseUnlessModerator(interaction, s)) return;
    const persona = await optionPersona(interaction, s);
    if (!persona) return;
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const place = placeOf(interaction);
    const { values } = await s.settings.resolve(place);
    if (values.roster.includes(persona.id)) return interaction.editReply(`${persona.name} is already here.`);
    await s.settings.set('channel', place.channelId, 'roster', [...values.roster, persona.id]);
    if (interaction.guild) await ensurePersonaRole(interaction.guild, persona, s.roles, s.log);
    s.log.info({ channelId: place.channelId, personaId: persona.id, by: interaction.user.id }, 'persona summoned');
    return interaction.editReply(`${persona.name} is now here: it may join in and answer other personas in this channel.`);
  },
  autocomplete: personaChoices,
};
