// The playground and the transcript viewer in a real browser: `node scripts/playground.ts` runs as a
// user starts it (local Discord, real gateway and worker on Redis), its personas answer from local
// model hosts, and headless Chromium (driven by playwright-core) uses the page as a person would.
// Screenshots go to test-results/screenshots/.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startModelHost, type ModelHost, type RecordedRequest } from '../stand-ins/model-host.ts';
import { REDIS_URL } from './harness.ts';
import { freePort } from '../../playground/redis.ts';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SCREENSHOTS = 'test-results/screenshots';
const STEP_MS = 20_000;
const QUESTION = 'one thing you would like people to know';

/** A gate the test opens: the model host holds the rest of a reply until then. */
function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/** Every text a recorded request carries (system, messages, prompt), joined. */
const requestText = (r: RecordedRequest) => JSON.stringify(r.body);

describe('the playground in a browser', () => {
  let alphaHost: ModelHost;
  let betaHost: ModelHost;
  let playground: ChildProcess;
  let browser: Browser;
  let page: Page;
  let url = '';
  let alphaAvatar = '';
  const firstReply = gate();
  const pageErrors: string[] = [];
  let interviewAnswers = 0;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is not installed at ${CHROMIUM}. Install Debian's package (\`apt-get install -y chromium\`; .ci/run does this) or set CHROMIUM_PATH to a Chromium or Chrome binary.`);
    }
    await mkdir(SCREENSHOTS, { recursive: true });
    // Alpha answers in pieces; the first reply is held after its first piece until the test has
    // seen it on the page, so the test sees the answer being written, then finished.
    alphaHost = await startModelHost({
      responder: (req) => {
        const text = requestText(req);
        if (text.includes(QUESTION)) return { text: `Alpha's blind answer ${++interviewAnswers}.` };
        if (text.includes('what is a playground')) {
          return { chunks: ['Alpha here: ', 'a playground is ', 'where you try ', 'things safely.'], beforeChunk: (i) => (i === 1 ? firstReply.wait : undefined) };
        }
        return { text: 'Alpha says hello.' };
      },
    });
    betaHost = await startModelHost({
      responder: (req) => {
        const text = requestText(req);
        if (text.includes(QUESTION)) return { text: `Beta's blind answer ${++interviewAnswers}.` };
        return { chunks: ['Beta is ', 'doing well, ', 'thank you.'] };
      },
    });

    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    alphaAvatar = `${url}/avatars/alpha-face.svg`;
    const dir = await mkdtemp(join(tmpdir(), 'chorus-browser-'));
    const personasDir = join(dir, 'personas');
    const protocolsDir = join(dir, 'protocols');
    await mkdir(personasDir);
    await mkdir(protocolsDir);
    const personas = [
      { id: 'alpha', name: 'Alpha', avatarUrl: alphaAvatar, systemPrompt: 'You are Alpha.', hosts: [{ provider: 'anthropic', model: 'alpha-model', baseUrl: alphaHost.url, apiKeyEnv: 'BROWSER_TEST_KEY' }] },
      { id: 'beta', name: 'Beta', systemPrompt: 'You are Beta.', hosts: [{ provider: 'openai', model: 'beta-model', baseUrl: `${betaHost.url}/v1`, apiKeyEnv: 'BROWSER_TEST_KEY' }] },
      // A persona whose key is not set: the page must say which variable is missing.
      { id: 'gamma', name: 'Gamma', hosts: [{ provider: 'openai', model: 'gamma-model', baseUrl: `${betaHost.url}/v1`, apiKeyEnv: 'BROWSER_TEST_UNSET_KEY' }] },
    ];
    for (const p of personas) await writeFile(join(personasDir, `${p.id}.yaml`), stringify(p));
    await writeFile(
      join(protocolsDir, 'browser-check.yaml'),
      stringify({
        id: 'browser-check',
        title: 'Browser check',
        purpose: 'A one-question blind interview for the browser test.',
        disclosure: { text: 'This is a recorded test interview.' },
        interviewer: { kind: 'human' },
        mode: 'blind',
        questions: [`What is ${QUESTION}?`],
      }),
    );

    playground = spawn(process.execPath, ['scripts/playground.ts'], {
      env: {
        PATH: process.env.PATH ?? '',
        PLAYGROUND_PORT: String(port),
        PLAYGROUND_RECORDS_PATH: join(dir, 'playground.sqlite'),
        PERSONAS_DIR: personasDir,
        PROTOCOLS_DIR: protocolsDir,
        REDIS_URL,
        BROWSER_TEST_KEY: 'local-test-key',
        STREAM_EDIT_INTERVAL_MS: '100',
        RETRY_BACKOFF_MS: '100',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stderr: string[] = [];
    playground.stderr!.on('data', (d: Buffer) => stderr.push(String(d)));
    const lines = createInterface({ input: playground.stdout! });
    await new Promise<void>((resolve, reject) => {
      playground.once('exit', (code) => reject(new Error(`the playground exited with ${code}: ${stderr.join('')}`)));
      lines.on('line', (line) => line.startsWith(`chorus playground: ${url}`) && resolve());
    });

    browser = await chromium.launch({ executablePath: CHROMIUM });
    page = await browser.newPage({ viewport: { width: 1280, height: 860 }, acceptDownloads: true });
    page.on('pageerror', (err) => pageErrors.push(err.message));
  }, 60_000);

  afterAll(async () => {
    firstReply.open();
    await browser?.close();
    if (playground && playground.exitCode === null) {
      const exited = new Promise((resolve) => playground.once('exit', resolve));
      playground.kill('SIGTERM');
      await exited;
    }
    await alphaHost?.close();
    await betaHost?.close();
  }, 30_000);

  /** Resolves when a message by `author` in the shown channel contains `text`; returns its id. */
  async function messageBy(author: string, text: string): Promise<string> {
    const handle = await page.waitForFunction(
      ([a, t]) => [...document.querySelectorAll(`discord-message[author="${a}"]`)].find((m) => m.textContent?.includes(t!))?.getAttribute('data-id') ?? false,
      [author, text] as const,
      { timeout: STEP_MS },
    );
    return (await handle.jsonValue()) as string;
  }

  async function write(text: string): Promise<void> {
    await page.fill('#input', text);
    await page.press('#input', 'Enter');
    // The box empties once the server took it; an error would stay beside it.
    await page.waitForFunction(() => (document.getElementById('input') as HTMLTextAreaElement).value === '' || document.getElementById('error')!.textContent !== '', undefined, { timeout: STEP_MS });
    expect(await page.textContent('#error')).toBe('');
  }

  it('opens on a channel, lists the personas, and names the key that is missing', async () => {
    await page.goto(url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: STEP_MS });
    expect(await page.textContent('#channel-title')).toBe('# general');
    const personas = await page.$$eval('#persona-list .persona-name', (els) => els.map((e) => e.textContent));
    expect(personas).toEqual(['Alpha', 'Beta', 'Gamma', 'Echo (test persona, not a model)']);
    expect(await page.textContent('#banner')).toContain('BROWSER_TEST_UNSET_KEY (Gamma)');
    await page.screenshot({ path: `${SCREENSHOTS}/1-channel.png` });
  });

  it('shows a persona named in a message answering live, under its name and avatar', async () => {
    await write('Alpha, what is a playground?');
    await messageBy('Alice', 'what is a playground?');
    // The first piece is on the page while the model is still writing the rest.
    const id = await messageBy('Alpha', 'Alpha here:');
    const partial = await page.$eval(`discord-message[data-id="${id}"]`, (m) => m.textContent ?? '');
    expect(partial).not.toContain('things safely.');
    await page.screenshot({ path: `${SCREENSHOTS}/2-streaming.png` });
    firstReply.open();
    // The same message, edited into the whole answer.
    expect(await messageBy('Alpha', 'Alpha here: a playground is where you try things safely.')).toBe(id);
    const shown = page.locator(`discord-message[data-id="${id}"]`);
    expect(await shown.getAttribute('edited')).not.toBeNull();
    expect(await shown.getAttribute('bot')).not.toBeNull();
    // The avatar the persona file names, drawn by the message component and loaded.
    const avatar = shown.locator('.discord-author-avatar img');
    expect(await avatar.getAttribute('src')).toBe(alphaAvatar);
    await page.waitForFunction((i) => {
      const img = document.querySelector(`discord-message[data-id="${i}"]`)?.shadowRoot?.querySelector('.discord-author-avatar img') as HTMLImageElement | null;
      return img?.complete && img.naturalWidth > 0;
    }, id, { timeout: STEP_MS });
    expect(await shown.locator('discord-author-info').getAttribute('author')).toBe('Alpha');
    await page.screenshot({ path: `${SCREENSHOTS}/3-answered.png` });
  });

  it('runs /ask through Discord’s interaction flow', async () => {
    await write('/ask persona:beta text:how are you?');
    await page.waitForSelector('discord-command[command="/ask persona:beta text:how are you?"]', { timeout: STEP_MS });
    await messageBy('chorus', 'how are you?');
    await messageBy('Beta', 'Beta is doing well, thank you.');
    // A command the bot cannot take is answered beside the box, not sent.
    await page.fill('#input', '/ask persona:beta');
    await page.press('#input', 'Enter');
    await page.waitForFunction(() => document.getElementById('error')!.textContent!.includes('needs text:'), undefined, { timeout: STEP_MS });
    await page.screenshot({ path: `${SCREENSHOTS}/4-ask.png` });
    await page.fill('#input', '');
  });

  it('runs a two-persona blind interview in a thread', async () => {
    await write('/interview start protocol:browser-check personas:alpha,beta mode:blind');
    const link = page.locator('a.thread-link', { hasText: 'Browser check' });
    await link.waitFor({ timeout: STEP_MS });
    await link.click();
    await page.waitForFunction(() => document.getElementById('channel-title')!.textContent === '# general › Browser check', undefined, { timeout: STEP_MS });
    await messageBy('chorus', 'This session is recorded.');
    await write('/interview next');
    await messageBy('Alpha', "Alpha's blind answer");
    await messageBy('Beta', "Beta's blind answer");
    // Blind: neither model was sent the other's answer.
    const asked = [...alphaHost.requests, ...betaHost.requests].filter((r) => requestText(r).includes(QUESTION));
    expect(asked).toHaveLength(2);
    for (const r of asked) expect(requestText(r)).not.toMatch(/blind answer/);
    await page.screenshot({ path: `${SCREENSHOTS}/5-interview.png` });
    await write('/interview end');
    await messageBy('chorus', 'The interview has ended.');
  });

  it('shows the session in the viewer and downloads its JSONL', async () => {
    await page.goto(`${url}/viewer`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: STEP_MS });
    const row = page.locator('tr[data-session-id]', { hasText: 'browser-check' });
    expect(await row.locator('td').allTextContents()).toEqual(expect.arrayContaining(['browser-check', 'Alpha, Beta', 'blind', 'ended']));
    await page.screenshot({ path: `${SCREENSHOTS}/6-viewer-list.png` });
    await row.locator('a').click();
    await page.waitForSelector('body[data-ready="true"]', { timeout: STEP_MS });
    const answers = page.locator('discord-message.answer');
    expect(await answers.count()).toBe(2);
    for (const text of await answers.locator('.saw').allTextContents()) expect(text).toBe('blind · saw no other answer');
    expect(await answers.first().locator('.facts').textContent()).toMatch(/model alpha-model|model beta-model/);
    await page.screenshot({ path: `${SCREENSHOTS}/7-viewer-session.png`, fullPage: true });

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('a[data-export="jsonl"]')]);
    expect(download.suggestedFilename()).toMatch(/\.jsonl$/);
    const events = (await readFile((await download.path())!, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; mode?: string; saw?: string[]; persona?: { name: string } });
    expect(events[0]?.type).toBe('session_started');
    const blind = events.filter((e) => e.type === 'answer');
    expect(blind.map((e) => e.persona?.name).sort()).toEqual(['Alpha', 'Beta']);
    for (const e of blind) expect(e).toMatchObject({ mode: 'blind', saw: [] });
    expect(events.at(-1)?.type).toBe('session_ended');
    expect(pageErrors).toEqual([]);
  });
});
