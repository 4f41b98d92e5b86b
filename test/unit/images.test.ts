import { describe, expect, it } from 'vitest';
import { imageLinkExpiry, MAX_IMAGES, sendableImages, type Prompt } from '../../core/context.ts';
import { isImage } from '../../core/messages.ts';

const NOW = Date.parse('2026-12-07T12:00:00Z');
/** A Discord attachment link signed to expire `inMs` from NOW. */
const link = (name: string, inMs: number) => {
  const ex = Math.floor((NOW + inMs) / 1000).toString(16);
  return `https://cdn.discordapp.com/attachments/1/2/${name}?ex=${ex}&is=${Math.floor((NOW - 86_400_000 + inMs) / 1000).toString(16)}&hm=abc&`;
};

describe('images a host can still fetch', () => {
  it('reads when a Discord link expires, and nothing from other links', () => {
    expect(imageLinkExpiry(link('a.png', 3_600_000))).toBe(Math.floor((NOW + 3_600_000) / 1000) * 1000);
    expect(imageLinkExpiry('https://example.org/a.png?ex=zz')).toBeUndefined();
    expect(imageLinkExpiry('not a url')).toBeUndefined();
  });

  it('leaves out expired links and those about to expire, keeping the words that name them', () => {
    const prompt: Prompt = {
      mode: 'chat',
      system: '',
      turns: [
        { role: 'user', content: 'Ann: look [image: old.png]', images: [{ url: link('old.png', -1000), name: 'old.png' }] },
        { role: 'assistant', content: 'Nice.' },
        { role: 'user', content: 'Ann: and [image: soon.png] [image: new.png] [image: web.png]', images: [{ url: link('soon.png', 60_000), name: 'soon.png' }, { url: link('new.png', 3_600_000), name: 'new.png' }, { url: 'https://example.org/web.png', name: 'web.png' }] },
      ],
    };
    const sent = sendableImages(prompt, NOW);
    expect(sent.mode === 'chat' && sent.turns.map((t) => t.images?.map((i) => i.name))).toEqual([undefined, undefined, ['new.png', 'web.png']]);
    expect(sent.mode === 'chat' && sent.turns.map((t) => t.content)).toEqual(prompt.turns.map((t) => t.content));
  });

  it('sends only the newest images past the most a request carries', () => {
    const turns = Array.from({ length: 30 }, (_, i) => ({ role: 'user' as const, content: `m${i}`, images: [{ url: link(`${i}.png`, 3_600_000), name: `${i}.png` }] }));
    const sent = sendableImages({ mode: 'chat', system: '', turns }, NOW);
    const names = sent.mode === 'chat' ? sent.turns.flatMap((t) => t.images?.map((i) => i.name) ?? []) : [];
    expect(names).toEqual(Array.from({ length: MAX_IMAGES }, (_, i) => `${30 - MAX_IMAGES + i}.png`));
  });
});

describe('what counts as an image', () => {
  it('reads the content type however Discord writes it, else the file name', () => {
    const a = (name: string, contentType?: string) => ({ name, url: 'https://x/y', ...(contentType ? { contentType } : {}) });
    for (const yes of [a('a.png', 'image/png'), a('a', 'IMAGE/PNG'), a('a.jpg', 'image/jpg'), a('a', 'image/jpeg; charset=binary'), a('photo.JPG'), a('anim.webp')]) expect(isImage(yes), JSON.stringify(yes)).toBe(true);
    for (const no of [a('a.svg', 'image/svg+xml'), a('a.pdf', 'application/pdf'), a('notes.txt'), a('a.png', 'video/mp4')]) expect(isImage(no), JSON.stringify(no)).toBe(false);
  });
});
