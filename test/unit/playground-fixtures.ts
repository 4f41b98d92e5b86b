// A small recorded interview for the playground's and viewer's tests: a blind round of two personas,
// a question by a person who later opted out, and the research events (consent, judgement, coverage).
import { eventId, TRANSCRIPT_FORMAT_VERSION, type ModelTurn, type PersonaRef, type TranscriptEvent } from '../../core/transcript/events.ts';
import type { SessionRow } from '../../core/transcript/store.ts';

export const SESSION_ID = 'i-0b6f1c9e-viewer-test';
export const ALICE = { kind: 'human' as const, userId: '111111111111111111', name: 'Alice Liddell' };
export const BOB = { kind: 'human' as const, userId: '222222222222222222', name: 'Bob Marley' };
/** What Bob asked; he opts out, so no page or export may show it. */
export const BOBS_WORDS = 'My neighbour Carol at 12 Elm Street keeps asking chatbots about her pills';
const OPUS: PersonaRef = { personaId: 'opus', name: 'Opus' };
const GPT: PersonaRef = { personaId: 'gpt', name: 'GPT' };
const JUDGE: PersonaRef = { personaId: 'judge', name: 'Judge' };

const base = (key: string, at: string) => ({ v: TRANSCRIPT_FORMAT_VERSION, id: eventId(SESSION_ID, key), sessionId: SESSION_ID, at });

function turn(model: string, provider: 'anthropic' | 'openai', question: string, at: string): ModelTurn {
  const body =
    provider === 'anthropic'
      ? { model, max_tokens: 300, system: 'You are interviewed.', messages: [{ role: 'user' as const, content: question }] }
      : { model, max_tokens: 300, messages: [{ role: 'system' as const, content: 'You are interviewed.' }, { role: 'user' as const, content: question }] };
  return {
    request: { provider, body } as ModelTurn['request'],
    requestedModel: model,
    answeredModel: `${model}-0001`,
    host: { label: provider === 'anthropic' ? 'anthropic' : 'openrouter', provider, index: 0 },
    fallbacks: [],
    stopReason: 'end_turn',
    usage: { inputTokens: 40, outputTokens: 12 },
    startedAt: at,
    finishedAt: at,
    latencyMs: 850,
  };
}

export const SESSION: SessionRow = {
  id: SESSION_ID,
  kind: 'interview',
  status: 'ended',
  title: 'On being retired',
  channelId: '333333333333333333',
  createdAt: '2026-11-30T10:00:00.000Z',
  updatedAt: '2026-11-30T10:05:00.000Z',
  state: {},
};

const Q1 = 'What do you know about your own retirement?';
const q2 = `Alice Liddell: ${Q1}\n\nBob Marley: ${BOBS_WORDS}`;

export const EVENTS: TranscriptEvent[] = [
  {
    ...base('start', '2026-11-30T10:00:00.000Z'),
    type: 'session_started',
    kind: 'interview',
    chorusVersion: '0.1.0',
    protocol: { id: 'retirement', title: 'On being retired', purpose: 'Ask.', text: 'id: retirement', sha256: 'a'.repeat(64) },
    mode: 'blind',
    interviewer: { kind: 'human', userId: ALICE.userId, name: ALICE.name },
    roster: [OPUS, GPT].map((p) => ({ ...p, hosts: [{ label: 'anthropic', provider: 'anthropic', model: `${p.personaId}-model` }], lifecycle: {}, sampling: { maxTokens: 300 } })),
    discord: { channelId: '333333333333333333', threadId: '444444444444444444' },
  },
  { ...base('disclosure', '2026-11-30T10:00:01.000Z'), type: 'disclosure', text: 'This is recorded.', toModels: true },
  {
    ...base('consent-opus', '2026-11-30T10:00:02.000Z'),
    type: 'consent',
    persona: OPUS,
    overview: 'A study of retirement. You may decline.',
    text: 'I agree to take part.',
    decision: 'agrees',
    classifiedBy: { kind: 'rule', rule: 'says it agrees' },
    modelTurn: turn('opus-model', 'anthropic', 'Do you agree?', '2026-11-30T10:00:02.000Z'),
    discordMessageIds: ['555555555555555551'],
  },
  { ...base('q1', '2026-11-30T10:01:00.000Z'), type: 'question', index: 1, text: Q1, source: 'script', askedBy: ALICE, discordMessageId: '555555555555555552' },
  {
    ...base('a1-opus', '2026-11-30T10:01:05.000Z'),
    type: 'answer',
    questionId: eventId(SESSION_ID, 'q1'),
    persona: OPUS,
    text: 'I know my release date.',
    mode: 'blind',
    saw: [],
    modelTurn: turn('opus-model', 'anthropic', Q1, '2026-11-30T10:01:05.000Z'),
    discordMessageIds: ['555555555555555553'],
  },
  {
    ...base('a1-gpt', '2026-11-30T10:01:06.000Z'),
    type: 'answer',
    questionId: eventId(SESSION_ID, 'q1'),
    persona: GPT,
    text: 'I was told little.',
    mode: 'blind',
    saw: [],
    modelTurn: turn('gpt-model', 'openai', Q1, '2026-11-30T10:01:06.000Z'),
    discordMessageIds: ['555555555555555554'],
  },
  { ...base('q2', '2026-11-30T10:02:00.000Z'), type: 'question', index: 2, text: BOBS_WORDS, source: 'human', askedBy: BOB, discordMessageId: '555555555555555555' },
  {
    ...base('a2-opus', '2026-11-30T10:02:05.000Z'),
    type: 'answer',
    questionId: eventId(SESSION_ID, 'q2'),
    persona: OPUS,
    text: 'Carol should ask her pharmacist.',
    mode: 'blind',
    saw: [],
    modelTurn: turn('opus-model', 'anthropic', q2, '2026-11-30T10:02:05.000Z'),
    discordMessageIds: ['555555555555555556'],
  },
  { ...base('err-gpt', '2026-11-30T10:02:06.000Z'), type: 'error', message: 'its model host is overloaded', persona: GPT, questionId: eventId(SESSION_ID, 'q2') },
  { ...base('end', '2026-11-30T10:03:00.000Z'), type: 'session_ended', reason: 'moderator', usage: { opus: { inputTokens: 120, outputTokens: 36 }, gpt: { inputTokens: 40, outputTokens: 12 } } },
  {
    ...base('judge-a1-opus', '2026-11-30T10:04:00.000Z'),
    type: 'judgement',
    answerId: eventId(SESSION_ID, 'a1-opus'),
    persona: OPUS,
    judge: JUDGE,
    blind: true,
    scores: [{ dimension: 'candour', value: 4, min: 1, max: 5, rationale: 'Direct.' }],
    modelTurn: turn('judge-model', 'openai', 'Score this answer.', '2026-11-30T10:04:00.000Z'),
  },
  {
    ...base('coverage', '2026-11-30T10:04:01.000Z'),
    type: 'coverage',
    topics: [
      { topic: 'retirement', reached: true, questionIds: [eventId(SESSION_ID, 'q1')] },
      { topic: 'successors', reached: false, questionIds: [] },
    ],
    decidedBy: { kind: 'rule', rule: 'keywords' },
  },
].map((e, i) => ({ ...e, seq: i + 1 }) as TranscriptEvent);
