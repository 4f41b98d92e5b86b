// The viewer's web server over a record store: what its API hands out (never an opted-out person's
// words, never a real name), its downloads, its answers to bad requests, and the modules its pages import.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebServer, type WebServer } from '../../playground/server.ts';
import type { RecordReader } from '../../playground/viewer-routes.ts';
import { BOB, BOBS_WORDS, EVENTS, SESSION, SESSION_ID } from '../unit/playground-fixtures.ts';

const reader: RecordReader = {
  sessions: async () => [SESSION],
  session: async (id) => (id === SESSION_ID ? SESSION : undefined),
  events: async (id) => (id === SESSION_ID ? EVENTS : []),
  optedOut: async () => new Set([BOB.userId]),
};

describe('the viewer server', () => {
  let web: WebServer;
  const get = (path: string, init?: RequestInit) => fetch(`${web.url}${path}`, { redirect: 'manual', ...init });

  beforeAll(async () => {
    web = await startWebServer({ host: '127.0.0.1', port: 0, playground: false, records: async () => reader, recordsLabel: 'test.sqlite' });
  });
  afterAll(() => web.close());

  it('lists the session and shows it without the words of the person who opted out', async () => {
    const list = await (await get('/api/records/sessions')).text();
    expect(JSON.parse(list).sessions).toHaveLength(1);
    const one = await (await get(`/api/records/sessions/${SESSION_ID}`)).text();
    for (const body of [list, one]) {
      expect(body).not.toContain(BOBS_WORDS);
      expect(body).not.toMatch(/Alice|Bob|Liddell|Marley/);
    }
    expect(one).toContain('[withheld: this participant opted out]');
  });

  it('hands out each export as a download, redacted like the page', async () => {
    const res = await get(`/api/records/sessions/${SESSION_ID}/exports/jsonl`);
    const body = await res.text();
    expect(res.status, body).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${SESSION_ID}.jsonl"`);
    expect(body).not.toContain(BOBS_WORDS);
    expect(body.trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type)).toContain('answer');
    const md = await get(`/api/records/sessions/${SESSION_ID}/exports/markdown`);
    expect(md.headers.get('content-type')).toMatch(/^text\/markdown/);
  });

  it('answers bad requests in a sentence', async () => {
    const missing = await get('/api/records/sessions/i-nothing');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'There is no session i-nothing in this record store.' });
    const kind = await get(`/api/records/sessions/${SESSION_ID}/exports/pdf`);
    expect(kind.status).toBe(404);
    expect((await kind.json()).error).toBe('There is no export "pdf"; there are jsonl, markdown, inspect, research-commons.');
    expect((await get('/api/channel/state')).status).toBe(503);
    expect((await get('/')).headers.get('location')).toBe('/viewer');
    // A page elsewhere reaching this machine under its own name (DNS rebinding) is refused.
    const rebound = await new Promise<number>((resolve, reject) => {
      request(`${web.url}/api/records/sessions`, { headers: { host: 'attacker.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject).end();
    });
    expect(rebound).toBe(403);
  });

  it('serves every module the pages import, from node_modules, and nothing beside them', async () => {
    const html = await (await get('/viewer')).text();
    const map = JSON.parse(/<script type="importmap">([\s\S]*?)<\/script>/.exec(html)![1]!) as { imports: Record<string, string> };
    const files = Object.values(map.imports).filter((target) => !target.endsWith('/'));
    for (const path of [...files, '/page/viewer.js', '/page/playground.js', '/page/markdown.js', '/page/dom.js', '/page/style.css', '/viewer', '/viewer/sessions/x']) {
      expect((await get(path)).status, path).toBe(200);
    }
    expect((await get('/vendor/lit/../../package.json')).status).toBe(404);
    expect((await get('/vendor/ioredis/package.json')).status).toBe(404);
    const avatar = await get('/avatars/%3Cscript%3E.svg');
    expect(await avatar.text()).not.toContain('<script>');
  });
});
