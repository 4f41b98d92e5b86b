// A recorded channel's export follows the channel's order (Discord's times), not the order chorus
// wrote its records in; an interview's keeps its own.
import { describe, expect, it } from 'vitest';
import { TRANSCRIPT_FORMAT_VERSION, type TranscriptEvent } from '../../core/transcript/events.ts';
import { asTheChannelShows } from '../../core/transcript/order.ts';
import { prepareForExport } from '../../core/transcript/redact.ts';
import { toResearchCommons } from '../../core/transcript/export-research-commons.ts';
import { PERSONAS, SessionBuilder, request, roster as rosterOf, turn } from './session-fixtures.ts';

const T = Date.UTC(2026, 11, 7, 12);
let seq = 0;
const base = (sessionId: string, secondsIn: number) => ({ v: TRANSCRIPT_FORMAT_VERSION, id: `e${++seq}`, seq, sessionId, at: new Date(T + secondsIn * 1000).toISOString() });
const PERSON = { kind: 'human' as const, userId: '111111111111111111', name: 'Ana' };
const OPUS = { kind: 'persona' as const, personaId: 'opus', name: 'Opus' };
const roster = [{ personaId: 'opus', name: 'Opus', hosts: [], lifecycle: {}, sampling: { maxTokens: 100 } }];

/** As recorded: Opus's streamed answer (begun at 2 s) is recorded once whole, after Ana's reply to it (5 s). */
function recorded(kind: 'channel' | 'interview'): TranscriptEvent[] {
  seq = 0;
  const s = `s-${kind}`;
  return [
    { ...base(s, 0), type: 'session_started', kind, chorusVersion: '0.1.0', roster },
    { ...base(s, 1), type: 'channel_message', author: PERSON, text: 'Opus, tell me a long story', discordMessageId: '1001' },
    { ...base(s, 5), type: 'channel_message', author: PERSON, text: 'what a story!', discordMessageId: '1003' },
    { ...base(s, 2), type: 'channel_message', author: OPUS, text: 'Once upon a time…', discordMessageId: '1002' },
    { ...base(s, 6), type: 'message_edited', discordMessageId: '1003', text: 'what a long story!' },
    { ...base(s, 4), type: 'session_ended', reason: 'moderator', usage: {} } as TranscriptEvent,
  ];
}

const words = (events: TranscriptEvent[]) => events.map((e) => (e.type === 'channel_message' || e.type === 'message_edited' ? e.text : e.type));

describe('asTheChannelShows', () => {
  it('puts a recorded channel in Discord\u2019s order, its start first and its end last, keeping each record\u2019s seq', () => {
    const ordered = asTheChannelShows(recorded('channel'));
    expect(words(ordered)).toEqual(['session_started', 'Opus, tell me a long story', 'Once upon a time…', 'what a story!', 'what a long story!', 'session_ended']);
    expect(ordered.map((e) => e.seq)).toEqual([1, 2, 4, 3, 5, 6]);
  });

  it('puts a deletion after its message, though chorus\u2019s clock read a moment earlier than Discord\u2019s', () => {
    const events = recorded('channel');
    const deletion = { ...events[2]!, id: 'del', type: 'message_deleted', discordMessageId: '1003', at: new Date(T + 4900).toISOString() } as TranscriptEvent;
    const ordered = asTheChannelShows([...events.slice(0, 5), deletion, events[5]!]);
    expect(ordered.map((e) => e.type).indexOf('message_deleted')).toBeGreaterThan(ordered.findIndex((e) => e.type === 'channel_message' && e.discordMessageId === '1003'));
  });

  it('puts a deletion before a message people wrote after it, though chorus heard of the deletion a moment after that message was made', () => {
    seq = 0;
    const s = 's-del';
    const events: TranscriptEvent[] = [
      { ...base(s, 0), type: 'session_started', kind: 'channel', chorusVersion: '0.1.0', roster },
      { ...base(s, 1), type: 'channel_message', author: PERSON, text: 'oops, wrong channel', discordMessageId: '2001' },
      // Deleted, then a new message at once: Discord made it at 3.000 s, chorus heard of the deletion at 3.002 s.
      { ...base(s, 3.002), type: 'message_deleted', discordMessageId: '2001' },
      { ...base(s, 3), type: 'channel_message', author: PERSON, text: 'please summarise', discordMessageId: '2002' },
      // A message read late, after a gap in the gateway's session, keeps its own (much earlier) time.
      { ...base(s, 10), type: 'message_deleted', discordMessageId: '2002' },
      { ...base(s, 4), type: 'channel_message', author: PERSON, text: 'said during the gap', discordMessageId: '2003' },
    ];
    expect(words(asTheChannelShows(events))).toEqual(['session_started', 'oops, wrong channel', 'message_deleted', 'please summarise', 'said during the gap', 'message_deleted']);
  });

  it('leaves an interview in the order of its records', () => {
    expect(asTheChannelShows(recorded('interview'))).toEqual(recorded('interview'));
  });

  it('is the order of every export (prepareForExport)', () => {
    expect(words(prepareForExport(recorded('channel'), { optedOut: new Set() }))).toEqual(['session_started', 'Opus, tell me a long story', 'Once upon a time…', 'what a story!', 'what a long story!', 'session_ended']);
  });
});

describe('a post in pieces, in the channel\u2019s order', () => {
  it('keeps each later piece with its own post\u2019s model call, though another post\u2019s first piece stands between them (Research Commons)', () => {
    const opus = PERSONAS[0]!;
    const by = { kind: 'persona' as const, personaId: opus.personaId, name: opus.name };
    const t = (s: number) => new Date(T + s * 1000).toISOString();
    const b = new SessionBuilder('pieces');
    b.add({ type: 'session_started', at: t(0), kind: 'channel', chorusVersion: '0.1.0', roster: rosterOf([opus]) });
    // Two answers stream at once; each is recorded whole: first piece, then the rest.
    b.add({ type: 'channel_message', at: t(3), author: by, text: 'FIRST-A', discordMessageId: '3', modelTurn: turn(opus, request(opus, [{ speaker: 'a', text: 'question A' }]), t(3)) });
    b.add({ type: 'channel_message', at: t(10), author: by, text: 'REST-A', discordMessageId: '5' });
    b.add({ type: 'channel_message', at: t(4), author: by, text: 'FIRST-B', discordMessageId: '4', modelTurn: turn(opus, request(opus, [{ speaker: 'b', text: 'question B' }]), t(4)) });
    b.add({ type: 'channel_message', at: t(12), author: by, text: 'REST-B', discordMessageId: '6' });
    const { submission } = toResearchCommons(prepareForExport(b.events, { optedOut: new Set(), salt: 'x' }));
    const message = (words: string) => submission.messages.find((m) => JSON.stringify(m.content_blocks).includes(words))!;
    expect(message('REST-A').metadata?.modelCallOn).toBe(message('FIRST-A').id);
    expect(message('REST-B').metadata?.modelCallOn).toBe(message('FIRST-B').id);
  });
});
