// /summon <persona> — brings a persona into this channel's roster (moderators), and gives it a
// mentionable role in the server, made now rather than for every guild at every start.
import { ensurePersonaRole } from '../bot/roles.ts';
import { optionPersona, personaChoices, personaOption, placeOf, refuseUnlessModerator, type SlashCommand } from './shared.ts';

export const command: SlashCommand = {
  name: 'summon',
  define: (b) =>
    new b.SlashCommandBuilder().setName('summon').setDescription('Bring a persona into this channel').addStringOption(personaOption()).toJSON(),
  async execute(ctx, s) {
    if (await refuseUnlessModerator(ctx, s)) return;
    const persona = await optionPersona(ctx, s);
    if (!persona) return;
    await ctx.defer({ ephemeral: true });
    const place = placeOf(ctx);
    const { values } = await s.settings.resolve(place);
    const here = values.roster.includes(persona.id);
    if (!here) await s.settings.set('channel', place.channelId, 'roster', [...values.roster, persona.id]);
    const role = place.guildId ? await ensurePersonaRole(s, place.guildId, persona) : undefined;
    s.log.info({ channelId: place.channelId, personaId: persona.id, by: ctx.user.id }, 'persona summoned');
    const mention = role ? ` People can @-mention its role, **@${persona.name}**.` : '';
    return ctx.edit(`${here ? `${persona.name} is already here.` : `${persona.name} is now here: it may join in and answer other personas in this channel.`}${mention}`);
  },
  autocomplete: personaChoices,
};
