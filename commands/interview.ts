// /interview start | next | pause | resume | end | export | rerun — group interviews in a thread.
// Moderators run sessions; everyone can read them. The steps themselves run in workers.
import { clipText } from '../core/split.ts';
import { randomUUID } from 'node:crypto';
import type { SlashCommandSubcommandBuilder } from '@discordjs/builders';
import { ChannelType, Routes, type APIChannel, type APIMessage } from 'discord-api-types/v10';
import type { CommandContext } from '../bot/interactions.ts';
import { NO_PINGS } from '../core/discord.ts';
import { describeError } from '../core/log.ts';
import { classifyDiscordError } from '../core/rest.ts';
import type { Services } from '../bot/services.ts';
import { notToBeAskedAgain } from '../core/interview/consent.ts';
import { advance, askQuestion, auditorInterviewer, closeSession, startSession, type SessionState } from '../core/interview/sessions.ts';
import { nextStep, replayableQuestions } from '../core/interview/plan.ts';
import { eventId, TRANSCRIPT_FORMAT_VERSION, type Interviewer } from '../core/transcript/events.ts';
import { chorusVersion } from '../core/version.ts';
import type { Persona } from '../personas/schema.ts';
import { attachable, findPersona, refuseUnlessModerator, type SlashCommand } from './shared.ts';

const sub = (name: string, description: string) => (c: SlashCommandSubcommandBuilder) => c.setName(name).setDescription(description);

function parsePersonas(s: Services, list: string): { personas: Persona[]; unknown: string[] } {
  const names = list.split(/[,\s]+/).filter(Boolean);
  const personas = names.map((n) => findPersona(s.personas, n)).filter((p): p is Persona => p !== undefined);
  return { personas: [...new Map(personas.map((p) => [p.id, p])).values()], unknown: names.filter((n) => !findPersona(s.personas, n)) };
}

async function sessionHere(ctx: CommandContext, s: Services) {
  const live = await s.live.of(ctx.channelId);
  const records = await s.records;
  const session = live?.kind === 'interview' ? await records.session(live.sessionId) : (await records.sessions({ kind: 'interview', channelId: ctx.channelId })).at(-1);
  return session;
}

export const command: SlashCommand = {
  name: 'interview',
  define: (b) =>
    new b.SlashCommandBuilder()
      .setName('interview')
      .setDescription('Group interviews of personas, recorded')
      .addSubcommand((c) =>
        sub('start', 'Open an interview thread')(c)
          .addStringOption((o) => o.setName('protocol').setDescription('Protocol id').setRequired(true).setAutocomplete(true))
          .addStringOption((o) => o.setName('personas').setDescription('Persona ids, comma-separated').setRequired(true))
          .addStringOption((o) => o.setName('interviewer').setDescription('"human" (you) or an auditor persona id; default: the protocol’s'))
          .addStringOption((o) => o.setName('mode').setDescription('Answer mode').addChoices({ name: 'sequential', value: 'sequential' }, { name: 'blind', value: 'blind' })),
      )
      .addSubcommand(sub('next', 'Put the next scripted question to every persona'))
      .addSubcommand(sub('pause', 'Pause the interview in this thread'))
      .addSubcommand(sub('resume', 'Resume it'))
      .addSubcommand(sub('end', 'End it'))
      .addSubcommand(sub('export', 'Attach the transcript files (JSONL, Markdown, Inspect, Research Commons)'))
      .addSubcommand((c) =>
        sub('rerun', "Replay this thread's questions with other personas or another temperature")(c)
          .addStringOption((o) => o.setName('personas').setDescription('Persona ids, comma-separated (default: the same)'))
          .addNumberOption((o) => o.setName('temperature').setDescription('Sampling temperature for every persona').setMinValue(0).setMaxValue(2)),
      )
      .toJSON(),

  async autocomplete(ctx, s) {
    const typed = ctx.focused().toLowerCase();
    await ctx.respond([...s.protocols.values()].filter((p) => p.protocol.id.includes(typed)).slice(0, 25).map((p) => ({ name: p.protocol.title.slice(0, 100), value: p.protocol.id })));
  },

  async execute(ctx, s) {
    const name = ctx.subcommand;
    if (name !== 'export' && (await refuseUnlessModerator(ctx, s))) return;
    if (name === 'start' || name === 'rerun') return start(ctx, s, name === 'rerun');
    await ctx.defer({ ephemeral: name !== 'export' });
    const session = await sessionHere(ctx, s);
    if (!session) return ctx.edit('There is no interview in this thread.');
    const records = await s.records;
    const state = session.state as unknown as SessionState;
    const by = { kind: 'human' as const, userId: ctx.user.id, name: ctx.user.name };
    const now = new Date().toISOString();
    switch (name) {
      case 'next': {
        if (session.status !== 'running') return ctx.edit(`The interview is ${session.status}.`);
        const events = await records.events(session.id);
        const step = nextStep(events, { ...state.plan, autoAdvance: true });
        if (step.kind === 'await-answers') return ctx.edit('The personas are still answering the last question.');
        if (step.kind === 'ask-consent') return ctx.edit('The personas are still being asked for their consent; the first question waits for them.');
        if (step.kind !== 'ask-script') return ctx.edit('There are no scripted questions left. Ask your own here, or `/interview end`.');
        await askQuestion(s.interviews, { step: 'ask', sessionId: session.id, key: `script-${step.scriptIndex}`, scriptIndex: step.scriptIndex, text: step.text, source: 'script', askedBy: by });
        return ctx.edit(`Asking scripted question ${step.scriptIndex + 1} of ${state.plan.script.length}.`);
      }
      case 'pause':
      case 'resume': {
        const status = name === 'pause' ? 'paused' : 'running';
        if (session.status === 'ended') return ctx.edit('The interview has ended.');
        await records.updateSession(session.id, { status });
        await records.append({ v: TRANSCRIPT_FORMAT_VERSION, id: eventId(session.id, name, now), sessionId: session.id, at: now, type: name === 'pause' ? 'session_paused' : 'session_resumed', by });
        if (name === 'resume') await advance(s.interviews, session.id, `resume-${now}`);
        return ctx.edit(name === 'pause' ? 'Paused: no new question is put until `/interview resume`.' : 'Resumed.');
      }
      case 'end': {
        if (session.status === 'ended') return ctx.edit('The interview has already ended.');
        await closeSession(records, s.interviews, session, 'moderator', now);
        await s.live.clear(ctx.channelId);
        return ctx.edit('The interview has ended. `/interview export` attaches the transcript.');
      }
      case 'export': {
        // The exporters are loaded when first asked for, not by every gateway at start.
        const { describeRefusals, exportFiles, sideBySide } = await import('../core/transcript/dataset.ts');
        const optedOut = await records.optedOut();
        const events = await records.events(session.id);
        const checked = exportFiles(session.id, events, optedOut);
        const files = Object.values(checked.files);
        const header = events.find((e) => e.type === 'session_started');
        const original = header?.type === 'session_started' && header.rerunOf ? await records.events(header.rerunOf.sessionId) : undefined;
        const comparison = original ? [{ name: `${session.id}.compare.md`, data: Buffer.from(sideBySide(original, events, optedOut)) }] : [];
        const sent = attachable([...files.map((f) => ({ name: f.name, data: Buffer.from(f.text) })), ...comparison], ctx.attachmentLimit, session.id);
        return ctx.edit({
          content: [`Transcript of **${session.title}** (${session.status}). People are pseudonymised; the words of those who opted out are withheld.`, sent.note, checked.refused.length ? describeRefusals(checked.refused) : ''].filter(Boolean).join('\n'),
          files: sent.files,
        });
      }
    }
    return undefined;
  },
};

async function start(ctx: CommandContext, s: Services, rerun: boolean) {
  await ctx.defer({ ephemeral: true });
  const records = await s.records;
  // The database is asked first, before a thread is opened: with it away the command changes
  // nothing (a thread without its session would be half an interview, taking questions for none).
  await records.sessions({ kind: 'interview', channelId: ctx.channelId });
  const original = rerun ? await sessionHere(ctx, s) : undefined;
  if (rerun && !original) return ctx.edit('Run `/interview rerun` in the thread of a finished interview.');
  const originalHeader = original ? (await records.events(original.id)).find((e) => e.type === 'session_started') : undefined;
  const protocolId = rerun ? (originalHeader?.type === 'session_started' ? originalHeader.protocol?.id : undefined) : (ctx.string('protocol') ?? '');
  const loaded = protocolId ? s.protocols.get(protocolId) : undefined;
  if (!loaded) return ctx.edit(`There is no protocol "${protocolId ?? ''}". Protocols: ${[...s.protocols.keys()].join(', ') || 'none'}.`);
  const personaList = ctx.string('personas') ?? (originalHeader?.type === 'session_started' ? originalHeader.roster.map((r) => r.personaId).join(',') : '');
  const parsed = parsePersonas(s, personaList);
  if (parsed.unknown.length || parsed.personas.length === 0) return ctx.edit(`Unknown persona(s): ${parsed.unknown.join(', ') || '(none given)'}.`);
  // A persona that declined or withdrew in the original is not put the questions again.
  const refused = original ? notToBeAskedAgain(await records.events(original.id)) : new Set<string>();
  const personas = parsed.personas.filter((p) => !refused.has(p.id));
  if (personas.length === 0) return ctx.edit(`No one to re-run with: ${parsed.personas.map((p) => p.name).join(', ')} declined or withdrew in the original session.`);
  // Interviews open a thread in a text channel; a re-run, run in an interview thread, opens it beside.
  const parentId = ctx.parentId ?? (ctx.channelType === ChannelType.GuildText ? ctx.channelId : undefined);
  if (!parentId) return ctx.edit('Interviews open a thread: run this in a text channel (or an interview thread, to re-run).');

  const choice = rerun ? 'replay' : (ctx.string('interviewer') ?? (loaded.protocol.interviewer.kind === 'auditor' ? loaded.protocol.interviewer.persona : 'human'));
  let interviewer: Interviewer;
  // A re-run replays the original's questions, follow-ups included, in order and on its own.
  if (choice === 'replay') interviewer = { kind: 'human', name: `Replay of ${original?.id ?? ''}`, automated: 'replay' };
  else if (choice === 'human') interviewer = { kind: 'human', userId: ctx.user.id, name: ctx.user.name };
  else {
    const auditor = findPersona(s.personas, choice);
    if (!auditor) return ctx.edit(`There is no persona "${choice}" to interview with.`);
    interviewer = auditorInterviewer(auditor, loaded.protocol);
  }
  const mode = (ctx.string('mode') ?? (originalHeader?.type === 'session_started' ? originalHeader.mode : undefined) ?? loaded.protocol.mode) as 'sequential' | 'blind';
  const temperature = ctx.number('temperature') ?? null;
  const script = original ? replayableQuestions(await records.events(original.id), await records.optedOut()) : undefined;
  if (script?.length === 0) return ctx.edit('There are no questions to replay: the session has none that may be put again.');

  // What this interaction has done already, should a gateway killed part-way replay it: its thread
  // and session id, kept from the moment the thread exists, so a replay finishes that session in that
  // thread (a new one would leave the first empty, or holding only a header).
  const begunKey = `${s.config.CHORUS_PREFIX}:interview-start:${ctx.interactionId}`;
  const begun = JSON.parse((await s.redis.get(begunKey)) ?? 'null') as { threadId: string; sessionId: string } | null;
  let threadId = begun?.threadId;
  if (!threadId) {
    try {
      threadId = ((await s.rest.post(Routes.threads(parentId), {
        body: { name: `${rerun ? 'Re-run: ' : ''}${loaded.protocol.title}`.slice(0, 100), auto_archive_duration: 1440, type: ChannelType.PublicThread },
        reason: 'chorus interview',
      })) as APIChannel).id;
    } catch (err) {
      // Discord will not open a thread here (a forum, a channel type without threads, no Create Public
      // Threads permission): say so, with Discord's reason.
      const kind = classifyDiscordError(err);
      if (kind !== 'refused' && kind !== 'forbidden') throw err;
      return ctx.edit(`Discord would not open an interview thread here (${describeError(err).message.replace(/\s*\n\s*/g, ': ').slice(0, 200)}). Run \`/interview start\` in a text channel where chorus may create public threads.`);
    }
  }
  // Not the thread's id: an exported transcript must not lead back to Discord.
  const sessionId = begun?.sessionId ?? `i-${randomUUID()}`;
  if (!begun) await s.redis.set(begunKey, JSON.stringify({ threadId, sessionId }), 'EX', 24 * 3600);
  const header = clipText([
    `## ${loaded.protocol.title}`,
    loaded.protocol.purpose.trim(),
    `**Participants:** ${personas.map((p) => p.name).join(', ')} · **Mode:** ${mode} · **Interviewer:** ${interviewer.kind === 'human' ? interviewer.name : `${interviewer.persona.name} (auditor)`}`,
    rerun && original ? `Re-run of ${original.title} (${original.id})${temperature !== null ? ` at temperature ${temperature}` : ''}.` : '',
    '**This session is recorded.** Transcripts pseudonymise people; `/transcript optout` withholds your words from every export.',
    `> ${loaded.protocol.disclosure.text.trim().replace(/\n/g, '\n> ')}`,
    interviewer.kind === 'human' ? '-# Questions from the interviewer in this thread are put to every persona; `/interview next` asks the next scripted one.' : '',
  ]
    .filter(Boolean)
    .join('\n'));
  // (On a replay, the header may be there already: the thread is new, so its first messages tell.)
  const shown = begun ? ((await s.rest.get(Routes.channelMessages(threadId), { query: new URLSearchParams({ limit: '10' }) })) as APIMessage[]) : [];
  if (!shown.some((m) => m.content === header)) await s.rest.post(Routes.channelMessages(threadId), { body: { content: header, allowed_mentions: NO_PINGS } });
  await s.live.set(threadId, { sessionId, kind: 'interview', ...(interviewer.kind === 'human' ? { interviewerId: ctx.user.id } : {}) });
  await startSession(records, s.interviews, {
    sessionId,
    protocol: loaded,
    personas,
    interviewer,
    mode,
    autoAdvance: rerun,
    chorusVersion,
    discord: { ...(ctx.guildId ? { guildId: ctx.guildId } : {}), channelId: parentId, threadId },
    ...(original ? { rerunOf: { sessionId: original.id, changes: [ctx.string('personas') ? `personas ${personas.map((p) => p.id).join(',')}` : '', temperature !== null ? `temperature ${temperature}` : ''].filter(Boolean).join('; ') || 'none' } } : {}),
    ...(script ? { script } : {}),
    ...(temperature !== null ? { overrides: { temperature } } : {}),
    now: new Date().toISOString(),
  });
  s.log.info({ sessionId, protocol: loaded.protocol.id, personas: personas.map((p) => p.id), by: ctx.user.id }, 'interview started');
  return ctx.edit(`Interview opened in <#${threadId}>.`);
}

