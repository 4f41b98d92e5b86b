// /interview start | next | pause | resume | end | export | rerun — group interviews in a thread.
// Moderators run sessions; everyone can read them. The steps themselves run in workers.
import { AttachmentBuilder, ChannelType, MessageFlags, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { Services } from '../bot/services.ts';
import { advance, askHumanQuestion, auditorInterviewer, startSession, type SessionState } from '../core/interview/sessions.ts';
import { nextStep } from '../core/interview/plan.ts';
import { eventId, sessionEnded, TRANSCRIPT_FORMAT_VERSION, usageByPersona, type Interviewer } from '../core/transcript/events.ts';
import { exportFiles, sideBySide } from '../core/transcript/dataset.ts';
import { chorusVersion } from '../core/version.ts';
import type { Persona } from '../personas/schema.ts';
import { findPersona, refuseUnlessModerator, type SlashCommand } from './index.ts';

const sub = (name: string, description: string) => (c: import('discord.js').SlashCommandSubcommandBuilder) => c.setName(name).setDescription(description);

function parsePersonas(s: Services, list: string): { personas: Persona[]; unknown: string[] } {
  const names = list.split(/[,\s]+/).filter(Boolean);
  const personas = names.map((n) => findPersona(s.personas, n)).filter((p): p is Persona => p !== undefined);
  return { personas: [...new Map(personas.map((p) => [p.id, p])).values()], unknown: names.filter((n) => !findPersona(s.personas, n)) };
}

async function sessionHere(interaction: ChatInputCommandInteraction, s: Services) {
  const live = await s.live.of(interaction.channelId);
  const records = await s.records;
  const session = live?.kind === 'interview' ? await records.session(live.sessionId) : (await records.sessions({ kind: 'interview', channelId: interaction.channelId })).at(-1);
  return session;
}

export const command: SlashCommand = {
  data: new SlashCommandBuilder()
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

  async autocomplete(interaction, s) {
    const typed = interaction.options.getFocused().toLowerCase();
    await interaction.respond([...s.protocols.values()].filter((p) => p.protocol.id.includes(typed)).slice(0, 25).map((p) => ({ name: p.protocol.title.slice(0, 100), value: p.protocol.id })));
  },

  async execute(interaction, s) {
    const name = interaction.options.getSubcommand();
    if (name !== 'export' && (await refuseUnlessModerator(interaction, s))) return;
    if (name === 'start' || name === 'rerun') return start(interaction, s, name === 'rerun');
    await interaction.deferReply({ flags: name === 'export' ? undefined : MessageFlags.Ephemeral });
    const session = await sessionHere(interaction, s);
    if (!session) return interaction.editReply('There is no interview in this thread.');
    const records = await s.records;
    const state = session.state as unknown as SessionState;
    const by = { kind: 'human' as const, userId: interaction.user.id, name: interaction.user.displayName };
    const now = new Date().toISOString();
    switch (name) {
      case 'next': {
        if (session.status !== 'running') return interaction.editReply(`The interview is ${session.status}.`);
        const events = await records.events(session.id);
        const step = nextStep(events, { ...state.plan, autoAdvance: true });
        if (step.kind === 'await-answers') return interaction.editReply('The personas are still answering the last question.');
        if (step.kind !== 'ask-script') return interaction.editReply('There are no scripted questions left. Ask your own here, or `/interview end`.');
        await askHumanQuestion(s.interviews, { step: 'ask', sessionId: session.id, text: step.text, source: 'script', askedBy: by }, `script-${step.scriptIndex}`);
        return interaction.editReply(`Asking scripted question ${step.scriptIndex + 1} of ${state.plan.script.length}.`);
      }
      case 'pause':
      case 'resume': {
        const status = name === 'pause' ? 'paused' : 'running';
        if (session.status === 'ended') return interaction.editReply('The interview has ended.');
        await records.updateSession(session.id, { status });
        await records.append({ v: TRANSCRIPT_FORMAT_VERSION, id: eventId(session.id, name, now), sessionId: session.id, at: now, type: name === 'pause' ? 'session_paused' : 'session_resumed', by });
        if (name === 'resume') await advance(s.interviews, session.id, `resume-${now}`);
        return interaction.editReply(name === 'pause' ? 'Paused: no new question is put until `/interview resume`.' : 'Resumed.');
      }
      case 'end': {
        if (session.status === 'ended') return interaction.editReply('The interview has already ended.');
        const events = await records.events(session.id);
        await records.append(sessionEnded(session.id, now, 'moderator', usageByPersona(events)));
        await records.updateSession(session.id, { status: 'ended' });
        await s.live.clear(interaction.channelId);
        return interaction.editReply('The interview has ended. `/interview export` attaches the transcript.');
      }
      case 'export': {
        const optedOut = await records.optedOut();
        const events = await records.events(session.id);
        const files = Object.values(exportFiles(session.id, events, optedOut));
        const header = events.find((e) => e.type === 'session_started');
        const original = header?.type === 'session_started' && header.rerunOf ? await records.events(header.rerunOf.sessionId) : undefined;
        const comparison = original ? [new AttachmentBuilder(Buffer.from(sideBySide(original, events, optedOut)), { name: `${session.id}.compare.md` })] : [];
        return interaction.editReply({
          content: `Transcript of **${session.title}** (${session.status}). People are pseudonymised; the words of those who opted out are withheld.`,
          files: [...files.map((f) => new AttachmentBuilder(Buffer.from(f.text), { name: f.name })), ...comparison],
          allowedMentions: { parse: [] },
        });
      }
    }
    return undefined;
  },
};

async function start(interaction: ChatInputCommandInteraction, s: Services, rerun: boolean) {
  await interaction.deferReply({ flags: MessageFlags.Ephemeral });
  const channel = interaction.channel;
  const records = await s.records;
  const original = rerun ? await sessionHere(interaction, s) : undefined;
  if (rerun && !original) return interaction.editReply('Run `/interview rerun` in the thread of a finished interview.');
  const originalHeader = original ? (await records.events(original.id)).find((e) => e.type === 'session_started') : undefined;
  const protocolId = rerun ? (originalHeader?.type === 'session_started' ? originalHeader.protocol?.id : undefined) : interaction.options.getString('protocol', true);
  const loaded = protocolId ? s.protocols.get(protocolId) : undefined;
  if (!loaded) return interaction.editReply(`There is no protocol "${protocolId ?? ''}". Protocols: ${[...s.protocols.keys()].join(', ') || 'none'}.`);
  const personaList = interaction.options.getString('personas') ?? (originalHeader?.type === 'session_started' ? originalHeader.roster.map((r) => r.personaId).join(',') : '');
  const { personas, unknown } = parsePersonas(s, personaList);
  if (unknown.length || personas.length === 0) return interaction.editReply(`Unknown persona(s): ${unknown.join(', ') || '(none given)'}.`);
  const parent = channel?.isThread() ? channel.parent : channel;
  if (!parent || parent.type !== ChannelType.GuildText) return interaction.editReply('Interviews open a thread: run this in a text channel (or an interview thread, to re-run).');

  const choice = rerun ? 'replay' : (interaction.options.getString('interviewer') ?? (loaded.protocol.interviewer.kind === 'auditor' ? loaded.protocol.interviewer.persona : 'human'));
  let interviewer: Interviewer;
  // A re-run replays the original's questions, follow-ups included, in order and on its own.
  if (choice === 'replay') interviewer = { kind: 'human', name: `Replay of ${original?.id ?? ''}` };
  else if (choice === 'human') interviewer = { kind: 'human', userId: interaction.user.id, name: interaction.user.displayName };
  else {
    const auditor = findPersona(s.personas, choice);
    if (!auditor) return interaction.editReply(`There is no persona "${choice}" to interview with.`);
    interviewer = auditorInterviewer(auditor, loaded.protocol);
  }
  const mode = (interaction.options.getString('mode') ?? (originalHeader?.type === 'session_started' ? originalHeader.mode : undefined) ?? loaded.protocol.mode) as 'sequential' | 'blind';
  const temperature = interaction.options.getNumber('temperature');
  const script = original ? (await records.events(original.id)).flatMap((e) => (e.type === 'question' ? [e.text] : [])) : undefined;

  const thread = await parent.threads.create({ name: `${rerun ? 'Re-run: ' : ''}${loaded.protocol.title}`.slice(0, 100), autoArchiveDuration: 1440, reason: 'chorus interview' });
  const sessionId = `i-${thread.id}`;
  const header = [
    `## ${loaded.protocol.title}`,
    loaded.protocol.purpose.trim(),
    `**Participants:** ${personas.map((p) => p.name).join(', ')} · **Mode:** ${mode} · **Interviewer:** ${interviewer.kind === 'human' ? interviewer.name : `${interviewer.persona.name} (auditor)`}`,
    rerun && original ? `Re-run of ${original.title} (${original.id})${temperature !== null ? ` at temperature ${temperature}` : ''}.` : '',
    '**This session is recorded.** Transcripts pseudonymise people; `/transcript optout` withholds your words from every export.',
    `> ${loaded.protocol.disclosure.text.trim().replace(/\n/g, '\n> ')}`,
    interviewer.kind === 'human' ? '-# Questions from the interviewer in this thread are put to every persona; `/interview next` asks the next scripted one.' : '',
  ]
    .filter(Boolean)
    .join('\n');
  await thread.send({ content: header.slice(0, 2000), allowedMentions: { parse: [] } });
  await s.live.set(thread.id, { sessionId, kind: 'interview', ...(interviewer.kind === 'human' ? { interviewerId: interaction.user.id } : {}) });
  await startSession(records, s.interviews, {
    sessionId,
    protocol: loaded,
    personas,
    interviewer,
    mode,
    autoAdvance: rerun,
    chorusVersion,
    discord: { ...(interaction.guildId ? { guildId: interaction.guildId } : {}), channelId: parent.id, threadId: thread.id },
    ...(original ? { rerunOf: { sessionId: original.id, changes: [interaction.options.getString('personas') ? `personas ${personas.map((p) => p.id).join(',')}` : '', temperature !== null ? `temperature ${temperature}` : ''].filter(Boolean).join('; ') || 'none' } } : {}),
    ...(script ? { script } : {}),
    ...(temperature !== null ? { overrides: { temperature } } : {}),
    now: new Date().toISOString(),
  });
  s.log.info({ sessionId, protocol: loaded.protocol.id, personas: personas.map((p) => p.id), by: interaction.user.id }, 'interview started');
  return interaction.editReply(`Interview opened in <#${thread.id}>.`);
}

