// A bare "direct-call" Discord bot: the baseline chorus is compared with under the same load.
// discord.js Client with default options + the official model SDK, no queue, no history: on a
// message that names the persona it streams one model answer and posts it with ONE REST call.
// `node bench/direct-bot.ts` runs it against the local stand-ins and prints its latencies.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { Client, Events, GatewayIntentBits, Routes, type Message } from 'discord.js';
import { AsyncLocalStorage } from 'node:async_hooks';
import { startDiscordStandIn } from '../local-discord/server.ts';
import { startModelHost } from '../test/stand-ins/model-host.ts';
import { fmtMs, now, summary } from './measure.ts';

export interface DirectBotOptions {
  /** Discord REST base, e.g. the stand-in's restUrl (…/api); the gateway URL comes from GET /gateway/bot. */
  restUrl: string;
  token: string;
  /** The SDK's baseURL as is: the model host's `url` for Anthropic, `url + '/v1'` for OpenAI. */
  modelBaseUrl: string;
  apiKey?: string;
  provider?: 'anthropic' | 'openai';
  /** Model id sent (default 'claude-opus-test' / 'gpt-test'). */
  model?: string;
  maxTokens?: number;
  /** Which messages the bot answers, e.g. (c) => /\bOpus\b/i.test(c). */
  match: (content: string) => boolean;
  /** Called when the SDK hands the model request to fetch (epoch ms, sub-ms precision). */
  onRequest?: (messageId: string, at: number) => void;
  /** Called when a message's handling ended, posted or failed. */
  onDone?: (record: DirectRecord) => void;
}

/** One answered message; times are epoch ms with sub-ms precision (bench/measure.ts `now`). */
export interface DirectRecord {
  messageId: string;
  channelId: string;
  /** MessageCreate reached the handler (after discord.js built and cached the Message). */
  arrivedAt: number;
  /** The SDK called fetch: the request left the bot. */
  requestAt?: number;
  firstTokenAt?: number;
  /** The stream ended. */
  answeredAt?: number;
  /** Discord answered the one POST. */
  postedAt?: number;
  replyId?: string;
  error?: string;
}

export interface DirectBot {
  client: Client;
  /** Every matched message so far, by message id. */
  records: Map<string, DirectRecord>;
  /** Resolves when that message's handling ended (posted, or `error` set). */
  done(messageId: string): Promise<DirectRecord>;
  /** Resolves when no message is being handled. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export async function startDirectBot(opts: DirectBotOptions): Promise<DirectBot> {
  const provider = opts.provider ?? 'anthropic';
  const model = opts.model ?? (provider === 'anthropic' ? 'claude-opus-test' : 'gpt-test');
  const maxTokens = opts.maxTokens ?? 1024;
  // The message a model request belongs to, carried into the SDK's fetch call by async context.
  const current = new AsyncLocalStorage<DirectRecord>();
  const timedFetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const record = current.getStore();
    if (record && record.requestAt === undefined) {
      record.requestAt = now();
      opts.onRequest?.(record.messageId, record.requestAt);
    }
    return fetch(input, init);
  };
  const sdkOptions = { apiKey: opts.apiKey ?? 'direct-bot', baseURL: opts.modelBaseUrl, maxRetries: 0, fetch: timedFetch };
  const anthropic = provider === 'anthropic' ? new Anthropic(sdkOptions) : undefined;
  const openai = provider === 'openai' ? new OpenAI(sdkOptions) : undefined;

  /** Streams the answer, as chorus does; returns its text. */
  async function generate(content: string, record: DirectRecord): Promise<string> {
    const firstToken = () => (record.firstTokenAt ??= now());
    if (anthropic) {
      const stream = anthropic.messages.stream({ model, max_tokens: maxTokens, messages: [{ role: 'user', content }] });
      stream.on('text', firstToken);
      const message = await stream.finalMessage();
      return message.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
    }
    let text = '';
    const stream = await openai!.chat.completions.create({ model, max_tokens: maxTokens, messages: [{ role: 'user', content }], stream: true });
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta?.content ?? '';
      if (delta) firstToken();
      text += delta;
    }
    return text;
  }

  const client = new Client({ intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent], rest: { api: opts.restUrl } });
  const records = new Map<string, DirectRecord>();
  const waiters = new Map<string, ((r: DirectRecord) => void)[]>();
  const inFlight = new Set<Promise<void>>();

  async function answer(m: Message, record: DirectRecord): Promise<void> {
    try {
      const text = await current.run(record, () => generate(m.content, record));
      record.answeredAt = now();
      // One REST call: Discord's 2,000-character cap is cut rather than split, so every reply costs one.
      const reply = (await client.rest.post(Routes.channelMessages(m.channelId), {
        body: { content: (text || '(no answer)').slice(0, 2000), allowed_mentions: { parse: [] } },
      })) as { id: string };
      record.postedAt = now();
      record.replyId = reply.id;
    } catch (err) {
      record.error = err instanceof Error ? err.message : String(err);
    }
    opts.onDone?.(record);
    for (const w of waiters.get(record.messageId) ?? []) w(record);
    waiters.delete(record.messageId);
  }

  client.on(Events.MessageCreate, (m) => {
    const arrivedAt = now();
    if (m.author.bot || m.webhookId || !opts.match(m.content)) return;
    const record: DirectRecord = { messageId: m.id, channelId: m.channelId, arrivedAt };
    records.set(m.id, record);
    const running = answer(m, record).finally(() => inFlight.delete(running));
    inFlight.add(running);
  });

  await new Promise<void>((resolve, reject) => {
    client.once(Events.ClientReady, () => resolve());
    client.login(opts.token).catch(reject);
  });

  return {
    client,
    records,
    done(messageId) {
      const r = records.get(messageId);
      if (r && (r.postedAt !== undefined || r.error !== undefined)) return Promise.resolve(r);
      return new Promise((resolve) => waiters.set(messageId, [...(waiters.get(messageId) ?? []), resolve]));
    },
    async idle() {
      while (inFlight.size) await Promise.allSettled([...inFlight]);
    },
    async stop() {
      await client.destroy();
    },
  };
}

export interface DirectBotRun {
  messages: number;
  delayMs: number;
  /** Handler saw the message → the SDK sent the request (bot side). */
  arrivedToRequest: ReturnType<typeof summary>;
  /** Handler saw the message → the model host got the request (what bench.ts measures for chorus). */
  arrivedToHost: ReturnType<typeof summary>;
  /** Handler saw the message → Discord answered the POST. */
  arrivedToPosted: ReturnType<typeof summary>;
  restCallsPerReply: number;
  errors: number;
  invalidRequests: number;
}

/**
 * Sends `messages` messages naming Opus, one every `gapMs` over `channels` channels, without waiting
 * for answers (open loop, as people do), to a direct bot on the local stand-ins; the model host
 * answers each after `delayMs`.
 */
export async function measureDirectBot(o: { messages?: number; delayMs?: number; gapMs?: number; channels?: number; provider?: 'anthropic' | 'openai' } = {}): Promise<DirectBotRun> {
  const messages = o.messages ?? 50;
  const delayMs = o.delayMs ?? 0;
  const provider = o.provider ?? 'anthropic';
  const discord = await startDiscordStandIn();
  const host = await startModelHost();
  const channels = [discord.channelId, ...Array.from({ length: (o.channels ?? 5) - 1 }, (_, i) => discord.addChannel({ name: `direct-${i}` }))];
  const hostAt = new Map<string, number>(); // by message content
  host.setResponder((req) => {
    const last = (req.body.messages as { content: string }[]).at(-1)?.content ?? '';
    hostAt.set(last, now());
    return { text: `An answer to: ${last}`, delayMs };
  });
  const bot = await startDirectBot({
    restUrl: discord.restUrl,
    token: discord.token,
    modelBaseUrl: provider === 'anthropic' ? host.url : `${host.url}/v1`,
    provider,
    match: (c) => /\bOpus\b/i.test(c),
  });
  try {
    const restBefore = discord.restCalls.length;
    const sent: { id: string; content: string }[] = [];
    for (let i = 0; i < messages; i++) {
      const content = `Opus, question ${i}?`;
      const m = await discord.userSays({ channelId: channels[i % channels.length]!, content });
      sent.push({ id: m.id, content });
      await new Promise((r) => setTimeout(r, o.gapMs ?? 20));
    }
    const done = await Promise.all(sent.map((s) => bot.done(s.id)));
    const between = (pick: (r: DirectRecord, i: number) => number | undefined) => summary(done.map((r, i) => (pick(r, i) ?? NaN) - r.arrivedAt));
    return {
      messages,
      delayMs,
      arrivedToRequest: between((r) => r.requestAt),
      arrivedToHost: between((_, i) => hostAt.get(sent[i]!.content)),
      arrivedToPosted: between((r) => r.postedAt),
      restCallsPerReply: (discord.restCalls.length - restBefore) / messages,
      errors: done.filter((r) => r.error !== undefined).length,
      invalidRequests: discord.invalidRequests(),
    };
  } finally {
    await bot.stop();
    await host.close();
    await discord.close();
  }
}

if (import.meta.main && process.env.DIRECT_BOT_REST_URL) {
  // Serve mode: the bot alone in its own process, as chorus's processes are, against stand-ins the
  // caller runs (bench/load.ts). Answers messages naming Opus until killed.
  await startDirectBot({
    restUrl: process.env.DIRECT_BOT_REST_URL,
    token: process.env.DIRECT_BOT_TOKEN ?? '',
    modelBaseUrl: process.env.DIRECT_BOT_MODEL_URL ?? '',
    match: (c) => /\bOpus\b/i.test(c),
  });
  console.log('direct bot ready');
} else if (import.meta.main) {
  const messages = Number(process.env.BENCH_DIRECT_MESSAGES ?? 50);
  const provider = process.env.BENCH_DIRECT_PROVIDER === 'openai' ? 'openai' : 'anthropic';
  for (const delayMs of [0, 500]) {
    const r = await measureDirectBot({ messages, delayMs, provider });
    const s = (x: ReturnType<typeof summary>) => `p50 ${fmtMs(x.p50)}  p99 ${fmtMs(x.p99)}`;
    console.log(`direct bot (${provider}), ${r.messages} messages, model answers after ${r.delayMs} ms (errors ${r.errors}, REST calls per reply ${r.restCallsPerReply.toFixed(2)}, invalid requests ${r.invalidRequests})`);
    console.log(`  message → model request sent:     ${s(r.arrivedToRequest)}`);
    console.log(`  message → model host has request: ${s(r.arrivedToHost)}`);
    console.log(`  message → reply posted:           ${s(r.arrivedToPosted)}`);
  }
}
