// Where each message stands in the exact request: found in order, by who wrote it.
import { describe, expect, it } from 'vitest';
import { buildContext } from '../../core/context.ts';
import { requestFor } from '../../core/requests.ts';
import { locateShown, type ShownMessage } from '../../core/transcript/shown.ts';
import { host, msg, persona } from './helpers.ts';

/** The text each span covers, read back from the body. */
function covered(body: unknown, shown: ShownMessage[]): string[] {
  const at = (path: string) => path.split('/').slice(1).reduce<unknown>((v, k) => (v as Record<string, unknown>)[k.replace(/~1/g, '/').replace(/~0/g, '~')], body) as string;
  return shown.flatMap((m) => m.spans.map((s) => `${m.authorId} ${s.part}: ${at(s.path).slice(s.start, s.end)}`));
}

const opus = persona({ id: 'opus', name: 'Opus', systemPrompt: 'You are Opus. Say yes when asked.' });

describe('what a model was shown', () => {
  const history = [
    msg('Alice', 'yes'),
    msg('Bob', 'I think yes too'),
    msg('Opus', 'yes', { personaId: 'opus' }),
    msg('Alice', 'yes'),
    msg('Bob', 'Opus, well?'),
  ];

  it('places each message, name and words, in a chat request, in order, never in the system prompt', () => {
    const trigger = history.at(-1)!;
    const context = buildContext(opus, history, trigger, { maxMessages: 40, maxTokens: 4000 });
    const { body } = requestFor(opus, host({ provider: 'anthropic', model: 'm' }), context.prompt);
    const shown = locateShown(body, context.kept, context.prompt.system);
    expect(shown.map((m) => [m.messageId, m.author])).toEqual(history.map((m) => [m.id, m.personaId ? 'persona' : 'human']));
    expect(covered(body, shown)).toEqual([
      'u-Alice text: yes',
      'u-Alice name: Alice',
      'u-Bob text: I think yes too',
      'u-Bob name: Bob',
      'opus text: yes',
      'u-Alice text: yes',
      'u-Alice name: Alice',
      'u-Bob text: Opus, well?',
      'u-Bob name: Bob',
    ]);
    // Each "yes" is its own span, in its own place.
    const alices = shown.filter((m) => m.authorId === 'u-Alice').flatMap((m) => m.spans.filter((s) => s.part === 'text'));
    expect(new Set(alices.map((s) => `${s.path}:${s.start}`)).size).toBe(2);
  });

  it('places them in a transcript prompt (prefill, completions), after the system prompt', () => {
    const base = persona({ id: 'base', name: 'Base', contextMode: 'prefill', systemPrompt: 'A log where everyone says yes.' });
    const trigger = history.at(-1)!;
    const context = buildContext(base, history, trigger, { maxMessages: 40, maxTokens: 4000 });
    for (const provider of ['completions', 'openai', 'anthropic'] as const) {
      const { body } = requestFor(base, host({ provider, model: 'm' }), context.prompt);
      const shown = locateShown(body, context.kept, context.prompt.system);
      expect(covered(body, shown).filter((c) => c.includes(' text: ')).map((c) => c.split(' text: ')[1])).toEqual(['yes', 'I think yes too', 'yes', 'yes', 'Opus, well?']);
    }
  });

  it('finds the image parts of a message’s attachments', () => {
    const withImage = msg('Alice', 'look', { attachments: [{ name: 'cat.png', url: 'https://cdn.example/cat.png', contentType: 'image/png' }] });
    const context = buildContext(opus, [withImage], withImage, { maxMessages: 40, maxTokens: 4000 });
    const { body } = requestFor(opus, host({ provider: 'anthropic', model: 'm', vision: true }), context.prompt);
    expect(locateShown(body, context.kept, context.prompt.system)[0]?.images).toEqual(['/messages/0/content/0']);
  });
});
