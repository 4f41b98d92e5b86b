// A transcript a person can read: the session header, the disclosure, each question with its
// answers (who answered, on which model and host, and whether blind), notices and errors, and the
// token usage per persona. Pure; run it on events from prepareForExport.
import type { Usage } from '../hosts/clients.ts';
import { usageByPersona, type Interviewer, type ModelTurn, type Participant, type TranscriptEvent } from './events.ts';
import { modelName, sessionHeader } from './export-jsonl.ts';
import { consentSection, coverageSection, judgeUsage, judgementSection } from './export-markdown-research.ts';

/** Keeps a value inside one table cell. */
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
/** Quotes a multi-line text as a Markdown block quote. */
// (Control characters other than line breaks and tabs, which a model may emit, are left out: a
// Markdown file with a NUL in it is read as binary by many tools.)
const quote = (s: string) => s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '').split('\n').map((l) => (l ? `> ${l}` : '>')).join('\n');
/** A model's answer with no text: said so, with the host's stop reason, not shown as an empty quote. */
const noText = (t: ModelTurn) => `*(no text${t.stopReason ? `; the host's stop reason: \`${t.stopReason}\`` : ''})*`;

/** The model's reasoning, where it showed any: quoted before its answer, said to be unposted. */
const reasoningOf = (t: ModelTurn | undefined): string[] => [
  ...(t?.reasoning ? ['*Its reasoning (not posted):*', '', quote(t.reasoning), ''] : []),
  ...(t?.stoppedText ? [`*What it wrote before its host stopped it (\`${t.stopReason ?? ''}\`; not posted):*`, '', quote(t.stoppedText), ''] : []),
];

function who(p: Participant): string {
  return p.kind === 'system' ? 'chorus' : p.name;
}

function answeredBy(t: ModelTurn): string {
  const requested = t.requestedModel !== t.answeredModel ? ` (asked for \`${t.requestedModel}\`)` : '';
  return `\`${modelName(t.host.provider, t.answeredModel)}\`${requested} via ${t.host.label}`;
}

/**
 * A human interviewer is named as one only when a person asked: a headless session's questions were
 * put by chorus from the script, a re-run's replayed (records before 0.3 say so by having no user).
 */
function humanInterviewer(i: Extract<Interviewer, { kind: 'human' }>, events: readonly TranscriptEvent[]): string {
  const questions = events.filter((e) => e.type === 'question');
  const automated = i.automated ?? (i.userId === undefined && questions.every((q) => q.askedBy.kind !== 'human') ? (/^Replay of /.test(i.name) ? 'replay' : 'script') : undefined);
  if (automated === 'script') return 'none: chorus put the scripted questions';
  if (automated === 'replay') return `none: chorus replayed the questions of another session (${i.name.replace(/^Replay of /, '')})`;
  return `${i.name} (human)`;
}

/** The session's usage with its judges' added (they judge after it has ended). */
function withJudges(usage: Record<string, Usage>, judges: Record<string, Usage>): Record<string, Usage> {
  const out = structuredClone(usage);
  for (const [id, u] of Object.entries(judges)) {
    const t = (out[id] ??= { inputTokens: 0, outputTokens: 0 });
    t.inputTokens += u.inputTokens;
    t.outputTokens += u.outputTokens;
  }
  return out;
}

export function toMarkdown(events: readonly TranscriptEvent[]): string {
  const h = sessionHeader(events);
  const title = h.protocol ? h.protocol.title : h.kind === 'channel' ? 'Channel recording' : 'Interview';
  const out: string[] = [`# ${title}`, ''];

  const interviewer = !h.interviewer
    ? undefined
    : h.interviewer.kind === 'human'
      ? humanInterviewer(h.interviewer, events)
      : `${h.interviewer.persona.name} (auditor persona, at most ${h.interviewer.followUpLimit} follow-ups)`;
  const rows: [string, string][] = [
    ['Session', `\`${h.sessionId}\``],
    ['Started', h.startedAt],
    ...(h.protocol ? ([['Protocol', `${h.protocol.title} (\`${h.protocol.id}\`)`], ['Protocol SHA-256', `\`${h.protocol.sha256}\``]] as [string, string][]) : []),
    ...(h.mode ? ([['Mode', h.mode === 'blind' ? 'blind (no persona saw another’s answer)' : 'sequential (each persona saw the answers before it)']] as [string, string][]) : []),
    ...(interviewer ? ([['Interviewer', interviewer]] as [string, string][]) : []),
    ...(h.rerunOf ? ([['Re-run of', `\`${h.rerunOf.sessionId}\`: ${h.rerunOf.changes}`]] as [string, string][]) : []),
    ...(h.campaign ? ([['Campaign', `\`${h.campaign.id}\`, cell ${h.campaign.cell}, repeat ${h.campaign.repeat}`]] as [string, string][]) : []),
    ['chorus version', h.chorusVersion],
    ['Transcript format', String(h.transcriptFormat)],
    // The header carries the session's token usage too, so a reader sees cost before detail.
    ['Tokens (in / out)', Object.entries(usageByPersona(events)).map(([id, u]) => `${id} ${u.inputTokens} / ${u.outputTokens}`).join('; ') || '—'],
  ];
  out.push('| | |', '|---|---|', ...rows.map(([k, v]) => `| ${cell(k)} | ${cell(v)} |`), '');

  out.push('## Roster', '', '| Persona | Model | Host | Knowledge cutoff |', '|---|---|---|---|');
  for (const r of h.roster) {
    const first = r.hosts[0];
    const model = first ? `\`${modelName(first.provider, first.model)}\`` : '—';
    const hosts = r.hosts.map((x) => x.label).join(', ') || '—';
    out.push(`| ${cell(r.name)} | ${cell(model)} | ${cell(hosts)} | ${cell(r.lifecycle.knowledgeCutoff ?? '—')} |`);
  }
  out.push('');

  if (h.disclosure)
    out.push('## Disclosure', '', quote(h.disclosure), '', h.disclosureToModels ? '*Shown to the people and given to the models.*' : '*Shown to the people only; the models were not given it.*', '');
  if (h.protocol) out.push('## Purpose', '', h.protocol.purpose, '');
  out.push(...consentSection(events));

  out.push('## Transcript', '');
  const questions = new Map<string, number>();
  for (const e of events) {
    switch (e.type) {
      case 'question': {
        questions.set(e.id, e.index);
        const follow = e.followUpOf && questions.has(e.followUpOf) ? ` (follow-up to question ${questions.get(e.followUpOf)})` : e.followUpOf ? ' (follow-up)' : '';
        const by = e.modelTurn ? `${who(e.askedBy)}, ${answeredBy(e.modelTurn)}` : `${who(e.askedBy)} (${e.source})`;
        out.push(`### Question ${e.index}${follow}`, '', `*Asked by ${by} at ${e.at}*`, '', quote(e.text), '');
        break;
      }
      case 'answer': {
        const blind = e.mode === 'blind' ? ' — written blind' : e.saw.length ? ` — after reading ${e.saw.length} other answer${e.saw.length === 1 ? '' : 's'}` : '';
        out.push(`**${e.persona.name}** · ${answeredBy(e.modelTurn)}${blind}`, '', ...reasoningOf(e.modelTurn), e.text.trim() ? quote(e.text) : noText(e.modelTurn), '');
        break;
      }
      case 'notice':
        out.push(`*Notice${e.persona ? ` (${e.persona.name})` : ''}: ${e.text}*`, '');
        break;
      case 'error':
        out.push(`*Error${e.persona ? ` (${e.persona.name})` : ''}: ${e.message}*`, '');
        break;
      case 'session_paused':
      case 'session_resumed':
        out.push(`*Session ${e.type === 'session_paused' ? 'paused' : 'resumed'}${e.by ? ` by ${who(e.by)}` : ''} at ${e.at}*`, '');
        break;
      case 'channel_message':
        out.push(`**${who(e.author)}** (${e.at})`, '', ...reasoningOf(e.modelTurn), e.text.trim() || !e.modelTurn ? quote(e.text) : noText(e.modelTurn), '');
        break;
      case 'message_edited':
        out.push(`*Message ${e.discordMessageId} edited:*`, '', quote(e.text), '');
        break;
      case 'message_deleted':
        out.push(`*Message ${e.discordMessageId} deleted.*`, '');
        break;
      case 'withdrawal':
        out.push(`*${e.persona.name} withdrew here, and was asked nothing more.*`, '');
        break;
      case 'session_ended':
        out.push(`*Session ended (${e.reason}) at ${e.at}.*`, '');
        break;
      default:
        break;
    }
  }

  out.push(...coverageSection(events), ...judgementSection(events));

  const ended = events.find((e) => e.type === 'session_ended');
  const usage = ended?.type === 'session_ended' && Object.keys(ended.usage).length ? withJudges(ended.usage, judgeUsage(events)) : usageByPersona(events);
  const names = new Map(h.roster.map((r) => [r.personaId, r.name]));
  if (h.interviewer?.kind === 'auditor') names.set(h.interviewer.persona.personaId, h.interviewer.persona.name);
  for (const e of events) if (e.type === 'judgement') names.set(e.judge.personaId, e.judge.name);
  out.push('## Usage', '', '| Persona | Input tokens | of which cached | Output tokens |', '|---|---:|---:|---:|');
  let input = 0;
  let cached = 0;
  let output = 0;
  for (const [id, u] of Object.entries(usage)) {
    out.push(`| ${cell(names.get(id) ?? id)} | ${u.inputTokens} | ${u.cacheReadTokens ?? '—'} | ${u.outputTokens} |`);
    input += u.inputTokens;
    cached += u.cacheReadTokens ?? 0;
    output += u.outputTokens;
  }
  out.push(`| **Total** | ${input} | ${cached} | ${output} |`, '');
  return out.join('\n');
}
