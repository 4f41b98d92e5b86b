// A bare "queue" bot: the direct-call bot split at a BullMQ queue, as chorus is, and nothing more.
// Its gateway process (discord.js Client, default options) adds one job per message naming the
// persona; its worker process (BullMQ Worker, concurrency 200) streams the answer with the official
// SDK and posts it with one REST call. No history, no ledger, no recording: what any bot built on
// the same engine pays, so the load bench can show what chorus adds above its architecture's floor.
// Run by bench/load.ts: `QUEUE_BOT_ROLE=gateway|worker node bench/queue-bot.ts`.
import Anthropic from '@anthropic-ai/sdk';
import { REST } from '@discordjs/rest';
import { Queue, Worker } from 'bullmq';
import { Client, Events, GatewayIntentBits, Routes } from 'discord.js';

interface QueueBotJob {
  channelId: string;
  content: string;
}

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`queue bot: ${name} is not set`);
  return value;
};
const connection = { url: env('QUEUE_BOT_REDIS_URL'), maxRetriesPerRequest: null };
const prefix = env('QUEUE_BOT_PREFIX');

if (process.env.QUEUE_BOT_ROLE === 'gateway') {
  const queue = new Queue<QueueBotJob>('replies', { connection, prefix });
  await queue.waitUntilReady();
  const client = new Client({ intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent], rest: { api: env('QUEUE_BOT_REST_URL') } });
  client.on(Events.MessageCreate, (m) => {
    if (m.author.bot || m.webhookId || !/\bOpus\b/i.test(m.content)) return;
    queue.add('reply', { channelId: m.channelId, content: m.content }, { jobId: `message-${m.id}`, removeOnComplete: true, removeOnFail: true }).catch((err: Error) => console.error(`queue bot: could not queue ${m.id}: ${err.message}`));
  });
  await new Promise<void>((resolve, reject) => {
    client.once(Events.ClientReady, () => resolve());
    client.login(env('QUEUE_BOT_TOKEN')).catch(reject);
  });
  console.log('queue bot ready');
} else if (process.env.QUEUE_BOT_ROLE === 'worker') {
  const anthropic = new Anthropic({ apiKey: 'queue-bot', baseURL: env('QUEUE_BOT_MODEL_URL'), maxRetries: 0 });
  const rest = new REST({ api: env('QUEUE_BOT_REST_URL') }).setToken(env('QUEUE_BOT_TOKEN'));
  const worker = new Worker<QueueBotJob>(
    'replies',
    async (job) => {
      const stream = anthropic.messages.stream({ model: 'claude-opus-test', max_tokens: 1024, messages: [{ role: 'user', content: job.data.content }] });
      const message = await stream.finalMessage();
      const text = message.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
      await rest.post(Routes.channelMessages(job.data.channelId), { body: { content: (text || '(no answer)').slice(0, 2000), allowed_mentions: { parse: [] } } });
    },
    { connection, prefix, concurrency: 200 },
  );
  await worker.waitUntilReady();
  console.log('queue bot ready');
} else {
  throw new Error('queue bot: set QUEUE_BOT_ROLE to gateway or worker');
}
