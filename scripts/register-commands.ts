// Installs the slash commands: `npm run commands:register`. Per guild when DISCORD_GUILD_ID is set
// (instant), otherwise globally (Discord may take up to an hour to show them).
import { Routes, type APIApplication } from 'discord-api-types/v10';
import { commandDefinitions } from '../commands/index.ts';
import { createRest } from '../core/rest.ts';
import { explainStartFailure, startUp } from '../core/startup.ts';

const { config } = await startUp('register-commands', { personas: false, redis: false });
const rest = createRest(config.DISCORD_API_URL, config.DISCORD_TOKEN);
try {
  const app = (await rest.get(Routes.currentApplication())) as APIApplication;
  const body = await commandDefinitions();
  const route = config.DISCORD_GUILD_ID ? Routes.applicationGuildCommands(app.id, config.DISCORD_GUILD_ID) : Routes.applicationCommands(app.id);
  await rest.put(route, { body });
  console.log(`registered ${body.length} command(s) ${config.DISCORD_GUILD_ID ? `in guild ${config.DISCORD_GUILD_ID}` : 'globally'}`);
} catch (err) {
  console.error(`chorus register-commands: ${explainStartFailure(err, config.DISCORD_API_URL)}`);
  process.exit(1);
}
