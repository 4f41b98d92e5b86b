// A host that cannot read an image the request carries (a Discord link past its expiry, a file too
// large or of a kind it does not read) refuses the whole request in its own words: chorus asks it
// again without images, rather than every later turn in the channel failing while the image stays
// in the history. The real SDKs against the local model host.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildContext } from '../../core/context.ts';
import { createHostClient } from '../../core/hosts/clients.ts';
import { askPersona, plainReason } from '../../core/hosts/fallback.ts';
import { startModelHost, type ModelHost, type RecordedRequest } from '../stand-ins/model-host.ts';
import { msg, persona } from '../unit/helpers.ts';

const carriesImage = (r: RecordedRequest) => /"type":"image"|"image_url"/.test(JSON.stringify(r.body));

describe('an image the host cannot read', () => {
  let host: ModelHost;
  beforeAll(async () => {
    host = await startModelHost();
    // As the hosts answer a link they cannot fetch (Anthropic; OpenAI names the link it was downloading).
    host.setResponder((r) =>
      carriesImage(r)
        ? r.api === 'anthropic'
          ? { status: 400, errorType: 'invalid_request_error', errorMessage: 'Could not process image' }
          : { status: 400, errorType: 'invalid_value', errorMessage: 'Error while downloading https://cdn.discordapp.com/attachments/1/2/cat.png.' }
        : { text: 'I cannot see the picture, but go on.' },
    );
  });
  afterAll(() => host.close());

  it('a host that reads no images and refuses in words naming one is refused once, not asked again and again', async () => {
    const blind = await startModelHost({ responder: () => ({ status: 400, errorType: 'invalid_request_error', errorMessage: 'messages: image input is not supported by this model ([image: cat.png])' }) });
    try {
      const p = persona({ id: 'b', name: 'Bee', hosts: [{ provider: 'openai', model: 'text-only', apiKeyEnv: 'none', baseUrl: `${blind.url}/v1` }] });
      const image = { ...msg('ann', 'look at this'), id: '100', attachments: [{ name: 'cat.png', url: 'https://cdn.discordapp.com/attachments/1/2/cat.png', contentType: 'image/png' }] };
      const trigger = { ...msg('ann', 'Bee, what do you make of it?'), id: '101' };
      const result = await askPersona(p, { budget: 6000, build: (maxTokens) => buildContext(p, [image, trigger], trigger, { maxMessages: 10, maxTokens }) }, (h) => createHostClient(h, {}, { timeoutMs: 10_000 }));
      expect(result.kind === 'exhausted' && result.attempts.map((a) => a.outcome)).toEqual(['refused']);
      expect(blind.requests).toHaveLength(1);
    } finally {
      await blind.close();
    }
  });

  for (const provider of ['anthropic', 'openai'] as const) {
    it(`is asked again without images, which stay named in the text (${provider})`, async () => {
      const p = persona({ id: 'v', name: 'Vee', hosts: [{ provider, model: 'vision-model', apiKeyEnv: 'none', vision: true, baseUrl: provider === 'anthropic' ? host.url : `${host.url}/v1` }] });
      const image = { ...msg('ann', 'look at this'), id: '100', attachments: [{ name: 'cat.png', url: 'https://cdn.discordapp.com/attachments/1/2/cat.png', contentType: 'image/png' }] };
      const trigger = { ...msg('ann', 'Vee, what do you make of it?'), id: '101' };
      const before = host.requests.length;
      const result = await askPersona(p, { budget: 6000, build: (maxTokens) => buildContext(p, [image, trigger], trigger, { maxMessages: 10, maxTokens }) }, (h) => createHostClient(h, {}, { timeoutMs: 10_000 }));
      expect(result.kind).toBe('answered');
      if (result.kind !== 'answered') return;
      const sent = host.requests.slice(before);
      expect(sent.map(carriesImage)).toEqual([true, false]);
      expect(JSON.stringify(sent[1]!.body)).toContain('[image: cat.png]');
      expect(result.attempts.map((a) => [a.outcome, a.status])).toEqual([['images-dropped', 400]]);
      expect(plainReason(result.attempts[0]!)).toBe('could not read an image in the conversation');
      expect(result.completion.text).toBe('I cannot see the picture, but go on.');
    });
  }
});
