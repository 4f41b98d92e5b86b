// A bare discord.js bot with default options and caches that only counts MESSAGE_CREATE: the
// memory reference bench/gateway-memory.ts runs beside chorus's gateway, as its own process.
// Env: DISCORD_TOKEN, DISCORD_API_URL, EXPECT_MESSAGES (prints "done" once that many were seen).
// Prints one JSON object per line on stdout: {"event":"ready"|"count"|"done", ...}.
import { Client, Events, GatewayIntentBits } from 'discord.js';

const expect = Number(process.env.EXPECT_MESSAGES ?? Infinity);
const say = (event: string, fields: Record<string, unknown> = {}) => console.log(JSON.stringify({ event, ...fields }));

const client = new Client({ intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent], rest: { api: process.env.DISCORD_API_URL ?? 'https://discord.com/api' } });
let count = 0;
let reported = 0;
client.on(Events.MessageCreate, () => {
  count += 1;
  if (count === expect) say('done', { count, heapUsedMb: process.memoryUsage().heapUsed / 2 ** 20, cachedMessages: client.channels.cache.reduce((n, c) => n + ('messages' in c ? c.messages.cache.size : 0), 0) });
});
// Progress, so a stalled run shows where it stopped.
setInterval(() => {
  if (count !== reported) say('count', { count });
  reported = count;
}, 1000).unref();

client.once(Events.ClientReady, (c) => say('ready', { guilds: c.guilds.cache.size, channels: c.channels.cache.size }));
const stop = () => void client.destroy().finally(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
await client.login(process.env.DISCORD_TOKEN);
