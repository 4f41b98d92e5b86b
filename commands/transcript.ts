// /transcript start | stop | export | optout | optin — recording a channel, and people's consent.
import { randomUUID } from 'node:crypto';
import type { Services } from '../bot/services.ts';
import { Routes } from 'discord-api-types/v10';
import { NO_PINGS } from '../core/discord.ts';
import { eventId, sessionEnded, TRANSCRIPT_FORMAT_VERSION } from '../core/transcript/events.ts';
import { chorusVersion } from '../core/version.ts';
import { rosterEntry } from '../core/interview/sessions.ts';
import { attachable, placeOf, refuseUnlessModerator, type SlashCommand } from './shared.ts';

export const command: SlashCommand = {
  name: 'transcript',
  define: (b) =>
    new b.SlashCommandBuilder()
      .setName('transcript')
      .setDescription('Record this channel, export its transcript, or opt out of transcripts')
      .addSubcommand((c) => c.setName('start').setDescription('Start recording this channel (a notice is posted)'))
      .addSubcommand((c) => c.setName('stop').setDescription('Stop recording this channel'))
      .addSubcommand((c) => c.setName('export').setDescription("Attach this channel's latest transcript"))
      .addSubcommand((c) => c.setName('optout').setDescription('Withhold your words from every export, past and future'))
      .addSubcommand((c) => c.setName('optin').setDescription('Allow your words in exports again'))
      .toJSON(),
  async execute(ctx, s) {
    const name = ctx.subcommand;
    if ((name === 'start' || name === 'stop') && (await refuseUnlessModerator(ctx, s))) return;
    await ctx.defer({ ephemeral: name !== 'export' });
    const records = await s.records;
    const now = new Date().toISOString();
    const channelId = ctx.channelId;
    switch (name) {
      case 'optout':
      case 'optin':
        await records.setOptOut(ctx.user.id, name === 'optout', now);
        s.log.info({ optedOut: name === 'optout' }, 'transcript consent changed');
        return ctx.edit(
          name === 'optout'
            ? 'Done: your words are withheld from every transcript export, past and future (they are replaced by a marker). `/transcript optin` reverses it.'
            : 'Done: your words may appear in transcript exports again (pseudonymised).',
        );
      case 'start': {
        const live = await s.live.of(channelId);
        if (live) return ctx.edit(live.kind === 'interview' ? 'This thread is an interview; it is recorded already.' : 'This channel is already being recorded.');
        // Not the channel's id: an exported transcript must not lead back to Discord.
        const sessionId = `ch-${randomUUID()}`;
        const place = placeOf(ctx);
        await records.createSession({ id: sessionId, kind: 'channel', status: 'running', title: `#${ctx.channelName ?? channelId}`, ...(place.guildId ? { guildId: place.guildId } : {}), channelId, state: {} });
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
        await s.rest.post(Routes.channelMessages(channelId), { body: { content: '🔴 **This channel is now being recorded** for a transcript. People are pseudonymised in exports; `/transcript optout` withholds your words.', allowed_mentions: NO_PINGS } });
        return ctx.edit('Recording started.');
      }
      case 'stop': {
        const live = await s.live.of(channelId);
        if (live?.kind !== 'channel') return ctx.edit('This channel is not being recorded.');
        // The session first: with the database away nothing has changed and the moderator is told so.
        // Its end goes after the channel's records still on their way (see core/transcript/outbox.ts).
        await records.updateSession(live.sessionId, { status: 'ended' });
        await s.outbox.put(sessionEnded(live.sessionId, now, 'moderator', {}));
        await s.live.clear(channelId);
        await s.rest.post(Routes.channelMessages(channelId), { body: { content: '⏹️ Recording of this channel has stopped.', allowed_mentions: NO_PINGS } });
        return ctx.edit('Recording stopped. `/transcript export` attaches the transcript.');
      }
      case 'export': {
        const session = (await records.sessions({ kind: 'channel', channelId })).at(-1);
        if (!session) return ctx.edit('This channel has no transcript.');
        const waiting = await recordsWritten(s, session.id);
        // The exporters are loaded when first asked for, not by every gateway at start.
        const { describeRefusals, exportFiles } = await import('../core/transcript/dataset.ts');
        const { files, refused } = exportFiles(session.id, await records.events(session.id), await records.optedOut(), { kinds: ['jsonl', 'markdown'] });
        const sent = attachable([files.jsonl, files.markdown].flatMap((f) => (f ? [{ name: f.name, data: Buffer.from(f.text) }] : [])), ctx.attachmentLimit, session.id);
        return ctx.edit({
          content: [
            `Transcript of ${session.title} (${session.status}). People are pseudonymised; the words of those who opted out are withheld.`,
            waiting ? `The latest messages may be missing: ${waiting} record${waiting === 1 ? ' waits' : 's wait'} to be written to the record store. Export again in a moment.` : '',
            sent.note,
            refused.length ? describeRefusals(refused) : '',
          ]
            .filter(Boolean)
            .join('\n'),
          files: sent.files,
        });
      }
    }
    return undefined;
  },
};

/** How long an export waits for the records on their way to the store. */
const EXPORT_WAITS_MS = 5000;

/** Waits a little for the session's records still on their way; how many still wait (0 when all are written). */
async function recordsWritten(s: Services, sessionId: string): Promise<number> {
  const until = Date.now() + EXPORT_WAITS_MS;
  for (;;) {
    const waiting = await s.outbox.waiting(sessionId);
    if (waiting === 0 || Date.now() >= until) return waiting;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
