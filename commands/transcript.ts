// /transcript start | stop | export | optout | optin — recording a channel, and people's consent.
import { AttachmentBuilder, MessageFlags, SlashCommandBuilder } from 'discord.js';
import { eventId, sessionEnded, TRANSCRIPT_FORMAT_VERSION } from '../core/transcript/events.ts';
import { exportFiles } from '../core/transcript/dataset.ts';
import { chorusVersion } from '../core/version.ts';
import { rosterEntry } from '../core/interview/sessions.ts';
import { placeOf, refuseUnlessModerator, type SlashCommand } from './index.ts';

export const command: SlashCommand = {
  data: new SlashCommandBuilder()
    .setName('transcript')
    .setDescription('Record this channel, export its transcript, or opt out of transcripts')
    .addSubcommand((c) => c.setName('start').setDescription('Start recording this channel (a notice is posted)'))
    .addSubcommand((c) => c.setName('stop').setDescription('Stop recording this channel'))
    .addSubcommand((c) => c.setName('export').setDescription("Attach this channel's latest transcript"))
    .addSubcommand((c) => c.setName('optout').setDescription('Withhold your words from every export, past and future'))
    .addSubcommand((c) => c.setName('optin').setDescription('Allow your words in exports again'))
    .toJSON(),
  async execute(interaction, s) {
    const name = interaction.options.getSubcommand();
    if ((name === 'start' || name === 'stop') && (await refuseUnlessModerator(interaction, s))) return;
    await interaction.deferReply({ flags: name === 'export' ? undefined : MessageFlags.Ephemeral });
    const records = await s.records;
    const now = new Date().toISOString();
    const channelId = interaction.channelId;
    switch (name) {
      case 'optout':
      case 'optin':
        await records.setOptOut(interaction.user.id, name === 'optout', now);
        s.log.info({ optedOut: name === 'optout' }, 'transcript consent changed');
        return interaction.editReply(
          name === 'optout'
            ? 'Done: your words are withheld from every transcript export, past and future (they are replaced by a marker). `/transcript optin` reverses it.'
            : 'Done: your words may appear in transcript exports again (pseudonymised).',
        );
      case 'start': {
        const live = await s.live.of(channelId);
        if (live) return interaction.editReply(live.kind === 'interview' ? 'This thread is an interview; it is recorded already.' : 'This channel is already being recorded.');
        const sessionId = `ch-${channelId}-${Date.now()}`;
        const place = placeOf(interaction);
        await records.createSession({ id: sessionId, kind: 'channel', status: 'running', title: `#${interaction.channel && 'name' in interaction.channel ? interaction.channel.name : channelId}`, ...(place.guildId ? { guildId: place.guildId } : {}), channelId, state: {} });
        const { values } = await s.settings.resolve(place);
        await records.append({
          v: TRANSCRIPT_FORMAT_VERSION,
          id: eventId(sessionId, 'session_started'),
          sessionId,
          at: now,
          type: 'session_started',
          kind: 'channel',
          chorusVersion,
          roster: s.personas.filter((p) => values.roster.includes(p.id)).map(rosterEntry),
          discord: { ...(place.guildId ? { guildId: place.guildId } : {}), channelId },
        });
        await s.live.set(channelId, { sessionId, kind: 'channel' });
        if (interaction.channel?.isSendable()) await interaction.channel.send({ content: '🔴 **This channel is now being recorded** for a transcript. People are pseudonymised in exports; `/transcript optout` withholds your words.', allowedMentions: { parse: [] } });
        return interaction.editReply('Recording started.');
      }
      case 'stop': {
        const live = await s.live.of(channelId);
        if (live?.kind !== 'channel') return interaction.editReply('This channel is not being recorded.');
        await records.append(sessionEnded(live.sessionId, now, 'moderator', {}));
        await records.updateSession(live.sessionId, { status: 'ended' });
        await s.live.clear(channelId);
        if (interaction.channel?.isSendable()) await interaction.channel.send({ content: '⏹️ Recording of this channel has stopped.', allowedMentions: { parse: [] } });
        return interaction.editReply('Recording stopped. `/transcript export` attaches the transcript.');
      }
      case 'export': {
        const session = (await records.sessions({ kind: 'channel', channelId })).at(-1);
        if (!session) return interaction.editReply('This channel has no transcript.');
        const { jsonl, markdown } = exportFiles(session.id, await records.events(session.id), await records.optedOut());
        return interaction.editReply({
          content: `Transcript of ${session.title} (${session.status}). People are pseudonymised; the words of those who opted out are withheld.`,
          files: [jsonl, markdown].map((f) => new AttachmentBuilder(Buffer.from(f.text), { name: f.name })),
          allowedMentions: { parse: [] },
        });
      }
    }
    return undefined;
  },
};
