// /dismiss <persona> — removes a persona from this channel's roster (moderators). It can still be
// asked by name; it just stops joining in.
import { optionPersona, personaChoices, personaOption, placeOf, refuseUnlessModerator, type SlashCommand } from './shared.ts';

export const command: SlashCommand = {
  name: 'dismiss',
  define: (b) =>
    new b.SlashCommandBuilder().setName('dismiss').setDescription('Send a persona away from this channel').addStringOption(personaOption()).toJSON(),
  async execute(ctx, s) {
    if (await refuseUnlessModerator(ctx, s)) return;
    const persona = await optionPersona(ctx, s);
    if (!persona) return;
    await ctx.defer({ ephemeral: true });
    const place = placeOf(ctx);
    const { values } = await s.settings.resolve(place);
    if (!values.roster.includes(persona.id)) return ctx.edit(`${persona.name} is not on this channel's roster.`);
    await s.settings.set('channel', place.channelId, 'roster', values.roster.filter((id) => id !== persona.id));
    s.log.info({ channelId: place.channelId, personaId: persona.id, by: ctx.user.id }, 'persona dismissed');
    return ctx.edit(`${persona.name} has left this channel; it still answers when asked by name or with /ask.`);
  },
  autocomplete: personaChoices,
};
