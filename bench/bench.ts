// `npm run bench`: figures for the spine, against the local Redis, the Discord stand-in and a
// model host that answers at once. Prints numbers; asserts nothing.
import Anthropic from '@anthropic-ai/sdk';
import { Client, Events, GatewayIntentBits } from 'discord.js';
import { startHarness } from '../test/e2e/harness.ts';

const LATENCY_MESSAGES = Number(process.env.BENCH_LATENCY_MESSAGES ?? 200);
const FLOOD_MESSAGES = Number(process.env.BENCH_FLOOD_MESSAGES ?? 2000);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
const fmt = (ms: number) => `${ms.toFixed(2)} ms`;

/** Times from a message reaching discord.js to the model host receiving the request, one at a time. */
async function spineLatency(): Promise<{ samples: number[]; restPerReply: number; restPerReplyCold: number }> {
  const h = await startHarness({ inProcessWorkers: 1 });
  const seenAt = new Map<string, number>();
  h.gateway.client.on(Events.MessageCreate, (m) => {
    if (!m.webhookId) seenAt.set(m.content, performance.now());
  });
  const samples: number[] = [];
  let hostAt = 0;
  h.anthropicHost.setResponder(() => {
    hostAt = performance.now();
    return { text: 'ok' };
  });
  // First reply: cold caches (channel type, webhook lookup and creation).
  const callsBefore = h.discord.restCalls.length;
  let posted = h.discord.nextMessage((m) => m.webhook_id !== undefined);
  await h.discord.userSays({ content: 'Opus, warm-up' });
  await posted;
  await h.settled();
  const restPerReplyCold = h.discord.restCalls.length - callsBefore;

  const warmBefore = h.discord.restCalls.length;
  for (let i = 0; i < LATENCY_MESSAGES; i++) {
    const content = `Opus, message ${i}`;
    posted = h.discord.nextMessage((m) => m.webhook_id !== undefined);
    await h.discord.userSays({ content });
    await posted;
    samples.push(hostAt - (seenAt.get(content) ?? NaN));
  }
  await h.settled();
  const restPerReply = (h.discord.restCalls.length - warmBefore) / LATENCY_MESSAGES;
  await h.close();
  return { samples, restPerReply, restPerReplyCold };
}

/** The same path for a bare bot that calls the model from its message handler: no queue, no history. */
async function directLatency(): Promise<number[]> {
  const h = await startHarness({ inProcessWorkers: 0 });
  const client = new Client({ intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent], rest: { api: h.discord.restUrl } });
  const sdk = new Anthropic({ apiKey: 'x', baseURL: h.anthropicHost.url, maxRetries: 0 });
  const seenAt = new Map<string, number>();
  client.on(Events.MessageCreate, (m) => {
    if (m.webhookId || !m.content.startsWith('Direct')) return;
    seenAt.set(m.content, performance.now());
    void sdk.messages.create({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: m.content }] }).then((r) => {
      void client.rest.post(`/channels/${m.channelId}/messages`, { body: { content: r.content.map((b) => (b.type === 'text' ? b.text : '')).join('') } });
    });
  });
  await new Promise<void>((resolve) => {
    client.once(Events.ClientReady, () => resolve());
    void client.login(h.discord.token);
  });
  let hostAt = 0;
  h.anthropicHost.setResponder(() => {
    hostAt = performance.now();
    return { text: 'ok' };
  });
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_MESSAGES; i++) {
    const content = `Direct ${i}`;
    const posted = h.discord.nextMessage((m) => m.author.id === h.discord.botUser.id);
    await h.discord.userSays({ content });
    await posted;
    samples.push(hostAt - (seenAt.get(content) ?? NaN));
  }
  await client.destroy();
  await h.close();
  return samples;
}

/** Messages a second the gateway routes and enqueues, with no workers taking jobs. */
async function routingThroughput(): Promise<number> {
  const h = await startHarness({ inProcessWorkers: 0 });
  let routed = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  const start = performance.now();
  const ids: Promise<{ id: string }>[] = [];
  for (let i = 0; i < FLOOD_MESSAGES; i++) ids.push(h.discord.userSays({ content: `Opus and GPT, flood ${i}` }));
  for (const p of ids) {
    const { id } = await p;
    void h.routed(id).then(() => {
      if (++routed === FLOOD_MESSAGES) done();
    });
  }
  await all;
  const seconds = (performance.now() - start) / 1000;
  const jobs = await h.gateway.services.queue.count();
  await h.gateway.services.queue.obliterate({ force: true });
  await h.close();
  console.log(`    (${FLOOD_MESSAGES} messages, ${jobs} jobs enqueued)`);
  return FLOOD_MESSAGES / seconds;
}

const spine = await spineLatency();
const direct = await directLatency();
const s = [...spine.samples].sort((a, b) => a - b);
const d = [...direct].sort((a, b) => a - b);
console.log(`chorus bench — node ${process.version}, ${LATENCY_MESSAGES} sequential messages, stand-in Discord and an instant model host`);
console.log('1. gateway receives message → model host receives request');
console.log(`   chorus (queue + worker + history read): p50 ${fmt(percentile(s, 50))}  p99 ${fmt(percentile(s, 99))}`);
console.log(`   direct call, no queue, no history:      p50 ${fmt(percentile(d, 50))}  p99 ${fmt(percentile(d, 99))}`);
console.log(`   ratio chorus/direct: p50 ${(percentile(s, 50) / percentile(d, 50)).toFixed(1)}x  p99 ${(percentile(s, 99) / percentile(d, 99)).toFixed(1)}x`);
console.log('2. gateway routing + enqueue throughput (two personas named per message)');
console.log(`   ${(await routingThroughput()).toFixed(0)} messages/s`);
console.log('3. Discord REST calls per reply');
console.log(`   warm caches: ${spine.restPerReply.toFixed(2)}   first reply in a channel: ${spine.restPerReplyCold}`);
process.exit(0);
