import { describe, expect, it } from 'vitest';
import { buildContext, chatPrompt, conversationFor, prefillPrompt, selectHistory, withoutOwnName } from '../../core/context.ts';
import { requestFor, type AnthropicBody, type OpenAIChatBody } from '../../core/requests.ts';
import { host, msg, persona } from './helpers.ts';
import type { ChannelMessage } from '../../core/messages.ts';

const opus = persona({ id: 'opus', name: 'Opus', systemPrompt: 'You are Opus.' });
const davinci = persona({ id: 'davinci', name: 'Davinci', contextMode: 'prefill', systemPrompt: 'A chat log.', hosts: [{ provider: 'completions', model: 'davinci-002' }] });
const wide = { maxMessages: 50, maxTokens: 10_000 };

describe('chat context', () => {
  it("makes the persona's posts assistant turns and others' user turns with names", () => {
    const history = [msg('alice', 'hi Opus'), msg('Opus', 'hello alice', { personaId: 'opus' }), msg('GPT-4o', 'and me', { personaId: 'gpt-4o' })];
    const trigger = msg('bob', 'Opus, thoughts?');
    const { prompt } = buildContext(opus, history, trigger, wide);
    expect(prompt).toEqual({
      mode: 'chat',
      system: 'You are Opus.',
      turns: [
        { role: 'user', content: 'alice: hi Opus' },
        { role: 'assistant', content: 'hello alice' },
        { role: 'user', content: 'GPT-4o: and me\n\nbob: Opus, thoughts?' },
      ],
    });
  });

  it('starts and ends with a user turn, alternating (Anthropic rules)', () => {
    const turns = chatPrompt(opus, [msg('Opus', 'first', { personaId: 'opus' }), msg('Opus', 'second', { personaId: 'opus' })]);
    if (turns.mode !== 'chat') throw new Error('expected chat');
    expect(turns.turns.map((t) => t.role)).toEqual(['user', 'assistant', 'user']);
    expect(turns.turns[1]?.content).toBe('first\n\nsecond');
  });

  it('builds the Anthropic body with a separate system prompt and the OpenAI body with a system message', () => {
    const trigger = msg('alice', 'Opus?');
    const { prompt } = buildContext(opus, [], trigger, wide);
    const anthropic = requestFor(opus, host({ provider: 'anthropic', model: 'claude-x', promptCache: false }), prompt);
    expect(anthropic).toEqual({
      provider: 'anthropic',
      body: { model: 'claude-x', max_tokens: 1024, system: 'You are Opus.', messages: [{ role: 'user', content: 'alice: Opus?' }] },
    });
    const openai = requestFor(opus, host({ provider: 'openai', model: 'gpt-x' }), prompt);
    expect(openai.body).toEqual({
      model: 'gpt-x',
      max_tokens: 1024,
      messages: [
        { role: 'system', content: 'You are Opus.' },
        { role: 'user', content: 'alice: Opus?' },
      ],
    });
  });

  it('carries sampling parameters into the request', () => {
    const hot = persona({ id: 'hot', name: 'Hot', sampling: { temperature: 1.3, topP: 0.9, maxTokens: 77 } });
    const { prompt } = buildContext(hot, [], msg('a', 'Hot?'), wide);
    expect(requestFor(hot, host({ provider: 'anthropic', model: 'm' }), prompt).body).toMatchObject({ temperature: 1.3, top_p: 0.9, max_tokens: 77 });
  });
});

describe('prefill context', () => {
  it('renders a Name: text transcript ending with the persona name, merging one speaker\u2019s lines', () => {
    const history = [msg('alice', 'hello'), msg('alice', 'anyone?'), msg('Davinci', 'I am here', { personaId: 'davinci' })];
    const { prompt } = buildContext(davinci, history, msg('bob', 'Davinci, tell a story'), wide);
    expect(prompt).toMatchObject({
      mode: 'prefill',
      transcript: 'alice: hello\nanyone?\nDavinci: I am here\nbob: Davinci, tell a story\nDavinci:',
      stop: ['\nbob:', '\nalice:', '\nDavinci:'],
    });
  });

  it('sends a completions prompt with stop sequences, and an Anthropic assistant prefill with no trailing space', () => {
    const { prompt } = buildContext(davinci, [], msg('bob', 'Davinci?'), wide);
    const completions = requestFor(davinci, host({ provider: 'completions', model: 'davinci-002' }), prompt);
    expect(completions.body).toMatchObject({ prompt: 'A chat log.\n\nbob: Davinci?\nDavinci:', stop: ['\nbob:', '\nDavinci:'] });
    const anthropic = requestFor(davinci, host({ provider: 'anthropic', model: 'claude-3-opus' }), prompt);
    if (anthropic.provider !== 'anthropic') throw new Error('expected anthropic');
    const last = anthropic.body.messages.at(-1)!;
    expect(last.role).toBe('assistant');
    expect(last.content).toMatch(/Davinci:$/);
    expect(anthropic.body.stop_sequences).toEqual(['\nbob:', '\nDavinci:']);
  });

  it('keeps at most four stop sequences however many speak', () => {
    const history = ['a', 'b', 'c', 'd', 'e'].map((n) => msg(n, 'hi'));
    const { prompt } = buildContext(davinci, history, msg('f', 'Davinci?'), wide);
    if (prompt.mode !== 'prefill') throw new Error('expected prefill');
    expect(prompt.stop).toHaveLength(4);
    expect(prompt.stop[0]).toBe('\nf:');
  });
});

describe('history budget', () => {
  it('drops the oldest messages first when over the message count', () => {
    const history = Array.from({ length: 10 }, (_, i) => msg('a', `m${i}`));
    const trigger = msg('b', 'now');
    const { kept, dropped } = selectHistory(history, trigger, { maxMessages: 4, maxTokens: 10_000 });
    expect(kept.map((m) => m.content)).toEqual(['m7', 'm8', 'm9', 'now']);
    expect(dropped.map((m) => m.content)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6']);
  });

  it('drops the oldest messages first when over the token budget', () => {
    const history = [msg('a', 'x'.repeat(400)), msg('a', 'y'.repeat(400)), msg('a', 'z'.repeat(40))];
    const { kept } = selectHistory(history, msg('b', 'now'), { maxMessages: 50, maxTokens: 130 });
    expect(kept.map((m) => m.content[0])).toEqual(['y', 'z', 'n']);
  });

  it('always keeps the trigger and does not repeat it when history already holds it', () => {
    const trigger = msg('b', 'q'.repeat(10_000));
    const { kept } = selectHistory([msg('a', 'old'), trigger], trigger, { maxMessages: 50, maxTokens: 10 });
    expect(kept).toEqual([trigger]);
  });

  it('reads the trigger as the history now holds it: edited since it was routed, as edited', () => {
    const routed = msg('b', 'what colour are cats?');
    const edited = { ...routed, content: 'what colour are dogs?' };
    const { kept } = selectHistory([msg('a', 'hi'), edited], routed, { maxMessages: 50, maxTokens: 10_000 });
    expect(kept.map((m) => m.content)).toEqual(['hi', 'what colour are dogs?']);
  });
});

describe('prompt caching on Anthropic hosts', () => {
  const history = [msg('alice', 'hi Opus'), msg('Opus', 'hello alice', { personaId: 'opus' }), msg('bob', 'and me')];
  const cached = (trigger: ChannelMessage, h: ChannelMessage[] = history) => requestFor(opus, host({ provider: 'anthropic', model: 'c' }), buildContext(opus, h, trigger, wide).prompt).body as AnthropicBody;

  it('marks the system prompt and the end of the conversation, two breakpoints of the four allowed', () => {
    const body = cached(msg('bob', 'Opus?'));
    expect(body.system).toEqual([{ type: 'text', text: 'You are Opus.', cache_control: { type: 'ephemeral' } }]);
    const last = body.messages.at(-1)!;
    expect(last.content).toEqual([{ type: 'text', text: 'bob: and me\n\nbob: Opus?', cache_control: { type: 'ephemeral' } }]);
    const marks = JSON.stringify(body).match(/cache_control/g) ?? [];
    expect(marks).toHaveLength(2);
    // Earlier turns are sent as they were: the next request's beginning is this one's, byte for byte.
    expect(body.messages.slice(0, -1)).toEqual([
      { role: 'user', content: 'alice: hi Opus' },
      { role: 'assistant', content: 'hello alice' },
    ]);
  });

  it('sends the next request in the channel with the same beginning as the last one', () => {
    const ask = msg('bob', 'Opus?');
    const first = cached(ask);
    const later = [...history, ask, msg('Opus', 'my answer', { personaId: 'opus' })];
    const second = cached(msg('carol', 'Opus, again?'), later);
    const text = (c: AnthropicBody['messages'][number]['content']) => (typeof c === 'string' ? c : c.map((b) => ('text' in b ? b.text : '')).join(''));
    expect(second.messages.slice(0, first.messages.length).map((m) => text(m.content))).toEqual(first.messages.map((m) => text(m.content)));
    expect(second.system).toEqual(first.system);
  });

  it('does not mark anything for a host with promptCache off, or on OpenAI hosts (they cache by themselves)', () => {
    const { prompt } = buildContext(opus, history, msg('bob', 'Opus?'), wide);
    expect(JSON.stringify(requestFor(opus, host({ provider: 'anthropic', model: 'c', promptCache: false }), prompt))).not.toContain('cache_control');
    expect(JSON.stringify(requestFor(opus, host({ provider: 'openai', model: 'g' }), prompt))).not.toContain('cache_control');
  });
});

describe('stepped context windows (shared beginnings for prompt caches)', () => {
  // A channel of n messages with their places, the last being the trigger.
  const channel = (n: number) => Array.from({ length: n }, (_, i) => msg('a', `m${i + 1}`, { seq: i + 1 }));
  const window = (n: number, limits: { maxMessages: number; maxTokens: number; step: number }) => {
    const all = channel(n);
    return selectHistory(all.slice(0, -1), all[n - 1]!, limits).kept.map((m) => m.seq);
  };

  it('keeps the start of the window still while the channel grows, then jumps a whole step', () => {
    const limits = { maxMessages: 30, maxTokens: 100_000, step: 10 };
    const starts = [35, 36, 37, 38, 39, 40, 41].map((n) => window(n, limits)[0]);
    // At most 30 kept, starting on a boundary (a multiple of 10) that does not move with each message.
    expect(starts).toEqual([10, 10, 10, 10, 10, 20, 20]);
    for (const n of [35, 40, 41, 59]) {
      const kept = window(n, limits);
      expect(kept.length).toBeLessThanOrEqual(30);
      expect(kept.at(-1)).toBe(n);
      expect(kept[0]! % 10).toBe(0);
    }
  });

  it('jumps whole steps when over the token budget, and never drops the trigger', () => {
    const kept = window(40, { maxMessages: 100, maxTokens: 40, step: 10 }); // each message costs a few tokens
    expect(kept[0]! % 10).toBe(0);
    expect(kept.at(-1)).toBe(40);
    const lone = selectHistory(channel(5), msg('b', 'q'.repeat(10_000)), { maxMessages: 50, maxTokens: 10, step: 10 }).kept;
    expect(lone.map((m) => m.content[0])).toEqual(['q']);
  });

  it('falls back to one-message steps when some message does not know its place', () => {
    const all = [...channel(20), msg('a', 'no place')];
    const kept = selectHistory(all, msg('b', 'now'), { maxMessages: 5, maxTokens: 100_000, step: 10 }).kept;
    expect(kept.map((m) => m.content)).toEqual(['m18', 'm19', 'm20', 'no place', 'now']);
  });
});

describe('prefillPrompt', () => {
  it('names the persona itself for its own earlier posts', () => {
    const p = prefillPrompt(davinci, [msg('whatever', 'mine', { personaId: 'davinci' })]);
    if (p.mode !== 'prefill') throw new Error('expected prefill');
    expect(p.transcript).toBe('Davinci: mine\nDavinci:');
  });
});

describe('attachments and long messages', () => {
  const png = { name: 'cat.png', url: 'https://cdn.example.org/cat.png', contentType: 'image/png' };
  const pdf = { name: 'paper.pdf', url: 'https://cdn.example.org/paper.pdf', contentType: 'application/pdf' };
  const trigger = msg('alice', 'Opus, look', { attachments: [png, pdf] });

  it('sends images to a host that reads them, in both API shapes', () => {
    const { prompt } = buildContext(opus, [], trigger, wide);
    const anthropic = requestFor(opus, host({ provider: 'anthropic', model: 'c', vision: true, promptCache: false }), prompt);
    expect((anthropic.body as AnthropicBody).messages[0]).toEqual({
      role: 'user',
      content: [
        { type: 'image', source: { type: 'url', url: png.url } },
        { type: 'text', text: 'alice: Opus, look [image: cat.png] [file: paper.pdf]' },
      ],
    });
    const openai = requestFor(opus, host({ provider: 'openai', model: 'g', vision: true }), prompt);
    expect((openai.body as OpenAIChatBody).messages[1]).toEqual({
      role: 'user',
      content: [
        { type: 'image_url', image_url: { url: png.url } },
        { type: 'text', text: 'alice: Opus, look [image: cat.png] [file: paper.pdf]' },
      ],
    });
  });

  it('only names images and files for a host that does not read images', () => {
    const { prompt } = buildContext(opus, [], trigger, wide);
    expect((requestFor(opus, host({ provider: 'anthropic', model: 'c', promptCache: false }), prompt).body as AnthropicBody).messages[0]).toEqual({
      role: 'user',
      content: 'alice: Opus, look [image: cat.png] [file: paper.pdf]',
    });
  });

  it('clips a message far longer than Discord allows', () => {
    const { prompt } = buildContext(opus, [], msg('alice', 'x'.repeat(50_000)), { maxMessages: 5, maxTokens: 100_000 });
    if (prompt.mode !== 'chat') throw new Error('expected chat');
    expect(prompt.turns[0]!.content.length).toBeLessThan(4100);
    expect(prompt.turns[0]!.content).toMatch(/… \[message cut\]$/);
  });
});

describe('conversationFor', () => {
  it('keeps the channel up to the trigger and the persona posts since, not later human messages', () => {
    const before = msg('alice', 'earlier');
    const trigger = msg('bob', 'Opus and GPT?');
    const later = msg('carol', 'a later question for someone else');
    const answer = msg('GPT', 'an answer posted since', { personaId: 'gpt' });
    expect(conversationFor([before, trigger, later, answer], trigger)).toEqual([before, trigger, answer]);
  });
});

describe('an answer without its own name before it', () => {
  const p = { name: 'Claude 3 Opus', id: 'claude-3-opus', aliases: ['c3opus'] };
  it('takes off the name (or id, or alias) written as a speaker label, bold or not', () => {
    for (const [given, meant] of [
      ['Claude 3 Opus: Hello', 'Hello'],
      ['**Claude 3 Opus:** Hi', 'Hi'],
      ['**Claude 3 Opus**: Hi', 'Hi'],
      ['claude-3-opus:   yes', 'yes'],
      ['__c3opus:__ ok', 'ok'],
      ['Claude  3 Opus: \n\nmulti', 'multi'],
    ]) expect(withoutOwnName(given!, p)).toBe(meant);
  });
  it('leaves everything else: other labels, the name elsewhere, a label with nothing after it', () => {
    for (const text of ['Note: hi', 'Hello Claude 3 Opus: x', 'Claude 3 Opus:', 'Opus: not my name']) expect(withoutOwnName(text, p)).toBe(text);
  });
});
