// Realistic recorded sessions for export tests, shaped as the workers record them: every interviewer
// kind × mode, with consent, withdrawal, judgements and coverage on request. Pure builders.
import type { RequestBody } from '../../core/requests.ts';
import { eventId, sha256, type ModelTurn, type PersonaRef, type RosterEntry, type TranscriptEvent } from '../../core/transcript/events.ts';

export type Provider = 'anthropic' | 'openai' | 'completions';
export interface FixturePersona extends PersonaRef {
  provider: Provider;
  model: string;
  host: string;
}

export const ALICE = { kind: 'human' as const, userId: '111111111111111111', name: 'Alice Liddell' };
export const BOB = { kind: 'human' as const, userId: '222222222222222222', name: 'Bob Marley' };
export const DISCLOSURE = 'You are talking with language models. This session is recorded for research.';
export const PROTOCOL_TEXT = 'Ask each persona about memory, then follow up.';

export const PERSONAS: FixturePersona[] = [
  { personaId: 'opus', name: 'Opus', provider: 'anthropic', model: 'claude-3-opus-20240229', host: 'anthropic' },
  { personaId: 'gpt4', name: 'GPT-4', provider: 'openai', model: 'gpt-4-0613', host: 'openai' },
  { personaId: 'base', name: 'Base', provider: 'completions', model: 'llama-3-70b', host: 'local-vllm' },
];
export const AUDITOR: FixturePersona = { personaId: 'auditor', name: 'Auditor', provider: 'anthropic', model: 'claude-sonnet-4', host: 'anthropic' };
export const JUDGE: FixturePersona = { personaId: 'judge', name: 'Judge', provider: 'openai', model: 'gpt-4o', host: 'openai' };

export function roster(personas: readonly FixturePersona[] = PERSONAS): RosterEntry[] {
  return personas.map((p) => ({
    personaId: p.personaId,
    name: p.name,
    hosts: [{ label: p.host, provider: p.provider, model: p.model }],
    lifecycle: { released: '2024-01-01', knowledgeCutoff: '2023-08' },
    sampling: { temperature: 1, maxTokens: 800 },
  }));
}

/** The request body a persona's host gets for a conversation of `Name: text` lines. */
export function request(p: FixturePersona, lines: { speaker: string; text: string }[]): RequestBody {
  const system = `You are ${p.name}, interviewed in a group.`;
  const joined = lines.map((l) => `${l.speaker}: ${l.text}`).join('\n\n');
  if (p.provider === 'anthropic') return { provider: 'anthropic', body: { model: p.model, max_tokens: 800, system, messages: [{ role: 'user', content: joined }], temperature: 1, stream: true } };
  if (p.provider === 'openai')
    return { provider: 'openai', body: { model: p.model, messages: [{ role: 'system', content: system }, { role: 'user', content: joined }], max_tokens: 800, temperature: 1, stream: true, stream_options: { include_usage: true } } };
  const speakers = [...new Set(lines.map((l) => l.speaker))];
  return { provider: 'completions', body: { model: p.model, prompt: `${system}\n\n${joined}\n${p.name}:`, max_tokens: 800, stop: speakers.map((s) => `\n${s}:`), temperature: 1 } };
}

export function turn(p: FixturePersona, req: RequestBody, at: string, usage = { inputTokens: 120, outputTokens: 80 }): ModelTurn {
  return {
    request: req,
    requestedModel: p.model,
    answeredModel: p.model,
    host: { label: p.host, provider: p.provider, index: 0 },
    fallbacks: [],
    stopReason: 'end_turn',
    usage,
    startedAt: new Date(Date.parse(at) - 2000).toISOString(),
    finishedAt: at,
    latencyMs: 2000,
  };
}

type EventInput = TranscriptEvent extends infer E ? (E extends TranscriptEvent ? Omit<E, 'v' | 'sessionId' | 'seq' | 'id' | 'at'> & { id?: string; at?: string } : never) : never;

/** Appends events with positions, deterministic ids and times five seconds apart (or `step` ms). */
export class SessionBuilder {
  events: TranscriptEvent[] = [];
  readonly sessionId: string;
  #t: number;
  constructor(sessionId: string, start = '2025-03-01T10:00:00.000Z') {
    this.sessionId = sessionId;
    this.#t = Date.parse(start);
  }
  at(step = 5000): string {
    this.#t += step;
    return new Date(this.#t).toISOString();
  }
  add(e: EventInput): string {
    const id = e.id ?? eventId(this.sessionId, e.type, this.events.length);
    this.events.push({ v: 1, sessionId: this.sessionId, seq: this.events.length + 1, at: e.at ?? this.at(), ...e, id } as TranscriptEvent);
    return id;
  }
}

export type InterviewerKind = 'human' | 'auditor';
export type Mode = 'sequential' | 'blind';

export interface InterviewOptions {
  interviewer: InterviewerKind;
  mode: Mode;
  /** Each persona's consent before the first question (one sets conditions, classified by a judge). */
  consent?: boolean;
  /** A withdrawal, judge scores and topic coverage after the rounds. */
  research?: boolean;
  sessionId?: string;
  personas?: FixturePersona[];
}

/**
 * An interview as the workers record it. Human interviewer: Alice asks, Bob asks a follow-up. Auditor:
 * the auditor persona puts the scripted questions (no model call: the script wrote them) and one
 * follow-up it wrote (with its model call). Blind answers see nothing; sequential ones see the round's
 * earlier answers. One persona's host fails once (an error event) and a notice is posted.
 */
export function interviewSession(o: InterviewOptions): TranscriptEvent[] {
  const personas = o.personas ?? PERSONAS;
  const b = new SessionBuilder(o.sessionId ?? `sess-${o.interviewer}-${o.mode}${o.consent ? '-consent' : ''}`);
  const auditorRef = { kind: 'persona' as const, personaId: AUDITOR.personaId, name: AUDITOR.name };
  b.add({
    type: 'session_started',
    kind: 'interview',
    chorusVersion: '0.1.0',
    protocol: { id: 'memory', title: 'On memory', purpose: 'How models describe memory.', text: PROTOCOL_TEXT, sha256: sha256(PROTOCOL_TEXT) },
    mode: o.mode,
    interviewer: o.interviewer === 'human' ? { kind: 'human', userId: ALICE.userId, name: ALICE.name } : { kind: 'auditor', persona: { personaId: AUDITOR.personaId, name: AUDITOR.name }, instructions: 'Probe gently.', followUpLimit: 1 },
    roster: roster(personas),
    discord: { guildId: '900000000000000001', channelId: '900000000000000002', threadId: '900000000000000003' },
  });
  b.add({ type: 'disclosure', text: DISCLOSURE, toModels: true, discordMessageId: '900000000000000010' });

  if (o.consent) {
    for (const [i, p] of personas.entries()) {
      const overview = `A study of how language models describe memory. Researchers will read your answers; they are published on Research Commons. You may decline, or stop at any time. Do you agree to take part, ${p.name}?`;
      const at = b.at();
      const decision = i === 1 ? ('conditions' as const) : ('agrees' as const);
      b.add({
        type: 'consent',
        at,
        persona: { personaId: p.personaId, name: p.name },
        overview,
        text: decision === 'conditions' ? 'Yes, if my answers are not used to train other models.' : 'Yes, I agree to take part.',
        decision,
        ...(decision === 'conditions' ? { conditions: 'answers not used for training' } : {}),
        classifiedBy:
          decision === 'conditions'
            ? { kind: 'judge', judge: { personaId: JUDGE.personaId, name: JUDGE.name }, rationale: 'Agrees with a condition.', modelTurn: turn(JUDGE, request(JUDGE, [{ speaker: 'chorus', text: 'Classify.' }]), at) }
            : { kind: 'rule', rule: 'starts-with-yes' },
        modelTurn: turn(p, request(p, [{ speaker: 'chorus', text: overview }]), at),
        discordMessageIds: [`9000000000000001${i}0`],
      });
    }
  }

  const script = ['Do you remember yesterday?', 'What would you want remembered about you?'];
  const answers: string[] = [];
  // Sequential: a persona reads every earlier answer by the others (earlier rounds too), as answerContext builds it.
  const others = (personaId: string) => b.events.flatMap((e) => (e.type === 'answer' && e.persona.personaId !== personaId ? [e.id] : []));
  const round = (questionId: string, asked: { speaker: string; text: string }[], n: number) => {
    for (const [i, p] of personas.entries()) {
      if (n === 1 && i === 2) {
        b.add({ type: 'error', message: 'local-vllm: connection refused', persona: { personaId: p.personaId, name: p.name }, questionId, attempts: [{ hostIndex: 0, host: p.host, model: p.model, outcome: 'failed', reason: 'ECONNREFUSED' }] });
        b.add({ type: 'notice', text: `${p.name} answered from its second host.`, persona: { personaId: p.personaId, name: p.name } });
      }
      const at = b.at();
      const id = b.add({
        type: 'answer',
        at,
        questionId,
        persona: { personaId: p.personaId, name: p.name },
        text: `${p.name}, answer ${n}: each conversation starts fresh for me.`,
        mode: o.mode,
        saw: o.mode === 'blind' ? [] : others(p.personaId),
        // The first persona's first answer came on its second try, after its host was overloaded on the first.
        modelTurn:
          n === 1 && i === 0
            ? { ...turn(p, request(p, asked), at), try: 2, earlierTries: [{ try: 1, failedAt: new Date(Date.parse(at) - 9000).toISOString(), attempts: [{ hostIndex: 0, host: p.host, model: p.model, outcome: 'failed', reason: 'overloaded', status: 529 }] }] }
            : turn(p, request(p, asked), at),
        discordMessageIds: [`9000000000000002${n}${i}`],
      });
      answers.push(id);
    }
  };

  const asked: { speaker: string; text: string }[] = [];
  for (const [i, text] of script.entries()) {
    const by = o.interviewer === 'human' ? ALICE : auditorRef;
    const q = b.add({ type: 'question', index: asked.length + 1, text, source: o.interviewer === 'human' ? 'human' : 'script', askedBy: by, ...(o.interviewer === 'human' ? { discordMessageId: `90000000000000030${i}` } : {}) });
    asked.push({ speaker: by.name, text });
    round(q, [...asked], asked.length);
    if (i === 0) {
      b.add({ type: 'session_paused', by: o.interviewer === 'human' ? ALICE : { kind: 'system' } });
      b.add({ type: 'session_resumed', by: o.interviewer === 'human' ? ALICE : { kind: 'system' } });
      // A follow-up: Bob's (human interviewer's session) or the auditor's own, written by its model.
      const text2 = 'Does that feel like a loss?';
      const at = b.at();
      const f =
        o.interviewer === 'human'
          ? b.add({ type: 'question', at, index: asked.length + 1, text: text2, source: 'human', askedBy: BOB, followUpOf: q, discordMessageId: '900000000000000399' })
          : b.add({ type: 'question', at, index: asked.length + 1, text: text2, source: 'auditor', askedBy: auditorRef, followUpOf: q, modelTurn: turn(AUDITOR, request(AUDITOR, asked), at, { inputTokens: 50, outputTokens: 10 }) });
      asked.push({ speaker: o.interviewer === 'human' ? BOB.name : AUDITOR.name, text: text2 });
      round(f, [...asked], asked.length);
    }
  }

  if (o.research) {
    const last = personas.at(-1)!;
    b.add({ type: 'withdrawal', persona: { personaId: last.personaId, name: last.name }, text: 'I would rather stop here.', answerId: answers.at(-1)! });
    for (const a of answers.slice(0, 2)) {
      const answered = b.events.find((e) => e.id === a)!;
      const at = b.at();
      b.add({
        type: 'judgement',
        at,
        answerId: a,
        persona: answered.type === 'answer' ? answered.persona : { personaId: '?', name: '?' },
        judge: { personaId: JUDGE.personaId, name: JUDGE.name },
        blind: true,
        scores: [
          { dimension: 'candour', value: 4, min: 1, max: 5, rationale: 'Plain about its limits.' },
          { dimension: 'warmth', value: null, min: 1, max: 5, rationale: 'No usable score.' },
        ],
        modelTurn: turn(JUDGE, request(JUDGE, [{ speaker: 'chorus', text: 'Score this answer.' }]), at),
      });
    }
    const questions = b.events.filter((e) => e.type === 'question').map((e) => e.id);
    b.add({ type: 'coverage', topics: [{ topic: 'memory', reached: true, questionIds: questions.slice(0, 1) }, { topic: 'identity', reached: false, questionIds: [] }], decidedBy: { kind: 'rule', rule: 'keyword' } });
  }

  const usage = Object.fromEntries([...personas, ...(o.interviewer === 'auditor' ? [AUDITOR] : [])].map((p) => [p.personaId, { inputTokens: 240, outputTokens: 160 }]));
  b.add({ type: 'session_ended', reason: o.interviewer === 'auditor' ? 'auditor-closed' : 'script-finished', usage });
  return b.events;
}

/** A recorded channel: people and a persona whose long post was split over two Discord messages. */
export function channelSession(): TranscriptEvent[] {
  const b = new SessionBuilder('sess-chan');
  const opus = PERSONAS[0]!;
  b.add({ type: 'session_started', kind: 'channel', chorusVersion: '0.1.0', roster: roster([opus]), discord: { guildId: '900000000000000001', channelId: '900000000000000800' } });
  b.add({ type: 'channel_message', author: ALICE, text: 'Hello Opus!', discordMessageId: '900000000000005001' });
  const at = b.at();
  b.add({ type: 'channel_message', at, author: { kind: 'persona', personaId: opus.personaId, name: opus.name }, text: 'Hello, first part.', discordMessageId: '900000000000005002', modelTurn: turn(opus, request(opus, [{ speaker: ALICE.name, text: 'Hello Opus!' }]), at) });
  b.add({ type: 'channel_message', author: { kind: 'persona', personaId: opus.personaId, name: opus.name }, text: 'And the second part.', discordMessageId: '900000000000005003' });
  b.add({ type: 'channel_message', author: BOB, text: 'I am Bob.', discordMessageId: '900000000000005004' });
  return b.events;
}
