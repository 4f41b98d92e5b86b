// Installs the slash commands: `npm run commands:register`. Per guild when DISCORD_GUILD_ID is set
// (instant), otherwise globally (Discord may take up to an hour to show them).
import { Routes } from 'discord-api-types/v10';
import { loadCommands } from '../commands/index.ts';
import { applicationIdFromToken, loadConfig } from '../core/config.ts';
import { createRest } from '../core/discord.ts';

const config = loadConfig();
const appId = applicationIdFromToken(config.DISCORD_TOKEN);
const body = [...loadCommands().values()].map((c) => c.data);
const route = config.DISCORD_GUILD_ID ? Routes.applicationGuildCommands(appId, config.DISCORD_GUILD_ID) : Routes.applicationCommands(appId);
await createRest(config.DISCORD_API_URL, config.DISCORD_TOKEN).put(route, { body });
console.log(`registered ${body.length} command(s) ${config.DISCORD_GUILD_ID ? `in guild ${config.DISCORD_GUILD_ID}` : 'globally'}`);
