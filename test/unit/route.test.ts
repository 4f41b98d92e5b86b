import { describe, expect, it } from 'vitest';
import { addressedPersonas, firstAddress, route, speakableText, type ChannelState, type IncomingMessage } from '../../core/route.ts';
import { persona } from './helpers.ts';

const opus = persona({ id: 'opus', name: 'Opus', aliases: ['claude opus'] });
const gpt = persona({ id: 'gpt-4o', name: 'GPT-4o', aliases: ['4o'] });
const base = persona({ id: 'base', name: 'Base' });
const all = [opus, gpt, base];

const channel = (over: Partial<ChannelState> = {}): ChannelState => ({
  roster: ['opus', 'gpt-4o', 'base'],
  interjectionProbability: 0,
  chainDepth: 2,
  cooldownSeconds: 10,
  repliesPerMinute: 20,
  lastPostAt: new Map(),
  ambientRepliesLastMinute: 0,
  ...over,
});
const opts = { maxPerMessage: 5, now: 1_000_000, random: () => 0.99 };
const human = (content: string, extra: Partial<IncomingMessage> = {}): IncomingMessage => ({ content, author: { kind: 'human' }, ...extra });
const fromPersona = (personaId: string, depth: number, content: string): IncomingMessage => ({ content, author: { kind: 'persona', personaId, depth } });
const ids = (r: ReturnType<typeof route>) => r.answer.map((d) => d.personaId);

describe('triggers', () => {
  it('answers a persona named by name, case-insensitively, at depth 1', () => {
    expect(route(human('hey opus, how are you?'), all, channel(), opts).answer).toEqual([{ personaId: 'opus', trigger: 'named', depth: 1 }]);
  });

  it('answers an alias, including one of several words', () => {
    expect(ids(route(human('What does Claude  Opus think?'), all, channel(), opts))).toEqual(['opus']);
    expect(ids(route(human('and you, 4o?'), all, channel(), opts))).toEqual(['gpt-4o']);
  });

  it('orders several addressed personas as they appear in the message', () => {
    expect(ids(route(human('GPT-4o and Opus: compare notes'), all, channel(), opts))).toEqual(['gpt-4o', 'opus']);
  });

  it('needs whole words: names inside other words do not count', () => {
    expect(ids(route(human('magnum opuses and 4oz of coffee'), all, channel(), opts))).toEqual([]);
  });

  it('ignores names inside code, URLs and mention syntax', () => {
    expect(ids(route(human('see `opus` and https://example.org/opus and ```\nGPT-4o\n``` <@&123>'), all, channel(), opts))).toEqual([]);
  });

  it('answers a reply to a persona post, first, and once', () => {
    const r = route(human('Opus, do you agree with GPT-4o?', { repliedToPersonaId: 'gpt-4o' }), all, channel(), opts);
    expect(r.answer.map((d) => [d.personaId, d.trigger])).toEqual([
      ['gpt-4o', 'reply'],
      ['opus', 'named'],
    ]);
  });

  it('answers a role @-mention, in the order it stands among names', () => {
    const r = route(human('<@&77> and Base, hello', { mentions: [{ personaId: 'gpt-4o', at: 0 }] }), all, channel(), opts);
    expect(r.answer.map((d) => [d.personaId, d.trigger])).toEqual([
      ['gpt-4o', 'mention'],
      ['base', 'named'],
    ]);
  });

  it('lets a human ask any persona, on the roster or not', () => {
    expect(ids(route(human('Base?'), all, channel({ roster: ['opus'] }), opts))).toEqual(['base']);
  });

  it('never answers other bots', () => {
    expect(route({ content: 'Opus!', author: { kind: 'bot' } }, all, channel(), opts)).toEqual({ answer: [], skipped: [] });
  });

  it('caps a flood of addressed personas', () => {
    const r = route(human('Opus GPT-4o Base'), all, channel(), { ...opts, maxPerMessage: 2 });
    expect(ids(r)).toEqual(['opus', 'gpt-4o']);
    expect(r.skipped).toEqual([{ personaId: 'base', reason: 'too-many' }]);
  });
});

describe('interjections', () => {
  it('lets a roster persona join in by chance when nobody is addressed', () => {
    const r = route(human('what a day'), all, channel({ interjectionProbability: 0.5, roster: ['base', 'opus'] }), { ...opts, random: () => 0.1 });
    expect(r.answer).toEqual([{ personaId: 'base', trigger: 'interjection', depth: 1 }]);
  });

  it('stays quiet when the dice say no, when someone is addressed, or when all are cooling down', () => {
    expect(ids(route(human('what a day'), all, channel({ interjectionProbability: 0.5 }), { ...opts, random: () => 0.6 }))).toEqual([]);
    expect(ids(route(human('Opus, what a day'), all, channel({ interjectionProbability: 1 }), { ...opts, random: () => 0 }))).toEqual(['opus']);
    const busy = channel({ interjectionProbability: 1, roster: ['base'], lastPostAt: new Map([['base', opts.now - 5_000]]) });
    expect(ids(route(human('what a day'), all, busy, { ...opts, random: () => 0 }))).toEqual([]);
  });

  it('counts against the channel rate cap', () => {
    expect(ids(route(human('hm'), all, channel({ interjectionProbability: 1, ambientRepliesLastMinute: 20 }), { ...opts, random: () => 0 }))).toEqual([]);
  });
});

describe('models talking to models', () => {
  it('lets a persona post trigger another roster persona, one level deeper', () => {
    expect(route(fromPersona('opus', 1, 'What do you think, Base?'), all, channel(), opts).answer).toEqual([{ personaId: 'base', trigger: 'named', depth: 2 }]);
  });

  it('stops the chain at the configured depth; a human message starts again at 1', () => {
    const r = route(fromPersona('base', 2, 'Opus, your turn'), all, channel({ chainDepth: 2 }), opts);
    expect(r.answer).toEqual([]);
    expect(r.skipped).toEqual([{ personaId: 'opus', reason: 'chain-depth' }]);
    expect(route(human('Opus, your turn'), all, channel({ chainDepth: 2 }), opts).answer[0]?.depth).toBe(1);
    expect(route(fromPersona('base', 1, 'Opus?'), all, channel({ chainDepth: 0 }), opts).skipped[0]?.reason).toBe('chain-depth');
  });

  it('does not let a persona answer itself', () => {
    expect(route(fromPersona('opus', 1, 'As Opus I say'), all, channel(), opts).skipped).toEqual([{ personaId: 'opus', reason: 'self' }]);
  });

  it('answers only roster personas', () => {
    expect(route(fromPersona('opus', 1, 'Base?'), all, channel({ roster: ['opus'] }), opts).skipped).toEqual([{ personaId: 'base', reason: 'not-on-roster' }]);
  });

  it('respects per-persona cooldowns', () => {
    const c = channel({ lastPostAt: new Map([['base', opts.now - 9_000]]) });
    expect(route(fromPersona('opus', 1, 'Base?'), all, c, opts).skipped).toEqual([{ personaId: 'base', reason: 'cooldown' }]);
    const later = channel({ lastPostAt: new Map([['base', opts.now - 11_000]]) });
    expect(ids(route(fromPersona('opus', 1, 'Base?'), all, later, opts))).toEqual(['base']);
  });

  it('respects the per-channel rate cap, counting the replies it grants', () => {
    const r = route(fromPersona('opus', 1, 'Base and GPT-4o?'), all, channel({ repliesPerMinute: 20, ambientRepliesLastMinute: 19 }), opts);
    expect(ids(r)).toEqual(['base']);
    expect(r.skipped).toEqual([{ personaId: 'gpt-4o', reason: 'channel-rate' }]);
  });
});

describe('addressing helpers', () => {
  it('keeps positions when blanking code', () => {
    expect(speakableText('a `b` c')).toHaveLength('a `b` c'.length);
  });
  it('finds the earliest handle', () => {
    expect(firstAddress('x opus y claude opus', ['claude opus', 'opus'])).toBe(2);
    expect(firstAddress('nothing here', ['opus'])).toBe(-1);
  });
  it('lists addressed personas without routing rules', () => {
    expect(addressedPersonas(human('Base, Opus'), all).map((a) => a.personaId)).toEqual(['base', 'opus']);
  });
});

describe('names that are not addresses, and names inside names', () => {
  const c3opus = persona({ id: 'claude-3-opus', name: 'Claude 3 Opus', aliases: ['3 opus'] });
  const both = [opus, c3opus, gpt];
  const roster = channel({ roster: ['opus', 'claude-3-opus', 'gpt-4o'] });

  it('names only the persona whose whole name is written where one name stands inside another', () => {
    expect(ids(route(human('Claude 3 Opus, what do you think?'), both, roster, opts))).toEqual(['claude-3-opus']);
    expect(ids(route(human('I prefer 4o to 3 opus'), both, roster, opts))).toEqual(['gpt-4o', 'claude-3-opus']);
    // Each still answers where it alone is named.
    expect(ids(route(human('Opus, and Claude 3 Opus too'), both, roster, opts))).toEqual(['opus', 'claude-3-opus']);
    // A persona saying its own long name does not summon the one named inside it.
    expect(route(fromPersona('claude-3-opus', 1, 'As Claude 3 Opus, I disagree.'), both, roster, opts).answer).toEqual([]);
  });

  it('finds the longest name whatever order a persona lists its handles in', () => {
    const claude = persona({ id: 'claude', name: 'Claude', aliases: ['Claude 3 Opus'] });
    expect(ids(route(human('hey Claude 3 Opus, hi'), [claude, opus], channel({ roster: ['claude', 'opus'] }), opts))).toEqual(['claude']);
  });

  it('does not read a block quote to the end of the message (>>>) as addressing anyone', () => {
    expect(ids(route(human('>>> Opus said this\nand GPT-4o agreed'), all, channel(), opts))).toEqual([]);
    expect(ids(route(human('>:) Opus, hi'), all, channel(), opts))).toEqual(['opus']);
  });

  it('does not take a quoted line or a web address for an address', () => {
    expect(ids(route(human('> Opus said that\nGPT-4o, do you agree?'), all, channel(), opts))).toEqual(['gpt-4o']);
    expect(ids(route(human('see opus.example.com and www.base.dev/docs'), all, channel(), opts))).toEqual([]);
    expect(speakableText('> Opus\nhi').startsWith('      ')).toBe(true);
  });
});
