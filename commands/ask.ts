// /ask <persona> <text> — puts a question to any persona, on the roster or not. The question is
// shown in the channel and the persona answers it like a message that named it.
import { jobIds } from '../core/replies.ts';
import type { ChannelMessage } from '../core/messages.ts';
import { eventId, TRANSCRIPT_FORMAT_VERSION } from '../core/transcript/events.ts';
import { optionPersona, personaChoices, personaOption, placeOf, type SlashCommand } from './shared.ts';

/** Discord allows 2,000 characters a message; the question shares it with a short header. */
const MAX_QUESTION = 1800;

export const command: SlashCommand = {
  name: 'ask',
  define: (b) =>
    new b.SlashCommandBuilder()
      .setName('ask')
      .setDescription('Ask a persona something')
      .addStringOption(personaOption())
      .addStringOption((o) => o.setName('text').setDescription('Your question').setRequired(true).setMaxLength(MAX_QUESTION))
      .toJSON(),
  async execute(ctx, s) {
    // Making a persona speak here is speaking here: it needs the right to.
    if (!ctx.memberCan(ctx.parentId ? 'SendMessagesInThreads' : 'SendMessages')) {
      return ctx.reply('Sorry — you cannot send messages in this channel, so you cannot ask a persona to speak here.', { ephemeral: true });
    }
    // Interactions reach chorus where it cannot post (it need not see the channel to be asked): the
    // question would show and its answer never come.
    const lacking = (['ViewChannel', 'ManageWebhooks'] as const).filter((p) => !ctx.botCan(p));
    if (lacking.length) {
      return ctx.reply(`chorus cannot post answers here: it needs ${lacking.map((p) => (p === 'ViewChannel' ? '**View Channel**' : '**Manage Webhooks**')).join(' and ')} in this channel. Ask a moderator to grant it.`, { ephemeral: true });
    }
    const live = await s.live.of(ctx.channelId);
    if (live?.kind === 'interview') {
      return ctx.reply('This thread is an interview: only its interviewer puts questions here, by writing in the thread.', { ephemeral: true });
    }
    const persona = await optionPersona(ctx, s);
    if (!persona) return;
    const text = (ctx.string('text') ?? '').slice(0, MAX_QUESTION);
    await ctx.defer();
    const shown = await ctx.edit(`**${ctx.user.name}** asks **${persona.name}**: ${text}`);
    const place = placeOf(ctx);
    // The question as the asker's own words, at the shown message's place in the channel.
    const trigger: ChannelMessage = { id: shown.id, authorId: ctx.user.id, authorName: ctx.user.name, content: text, isBot: false, createdAt: shown.timestamp };
    const { values: settings } = await s.settings.resolve(place);
    await s.history.add(place.channelId, [trigger]);
    // A recorded channel keeps the question as the asker's words (opt-outs apply to it by their id),
    // through the outbox like every message there: a database away does not lose the question.
    if (live?.kind === 'channel') {
      await s.outbox.put({ v: TRANSCRIPT_FORMAT_VERSION, id: eventId(live.sessionId, 'message', shown.id), sessionId: live.sessionId, at: trigger.createdAt, type: 'channel_message', author: { kind: 'human', userId: ctx.user.id, name: ctx.user.name }, text, discordMessageId: shown.id });
    }
    await s.replies.add(jobIds.message(shown.id), { v: 3, ...place, settings, turns: [{ personaId: persona.id, reason: 'ask', depth: 1, trigger }], receivedAt: Date.now() });
    s.log.info({ channelId: place.channelId, personaId: persona.id, by: ctx.user.id }, 'asked');
  },
  autocomplete: personaChoices,
};
