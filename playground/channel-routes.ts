// The page's window on the local Discord: the channels and messages a member sees, a live feed of
// what changes (server-sent events from the stand-in's watch()), and the two things a member does —
// write a message, run a slash command — through the stand-in's own person API, so the bot receives
// exactly the gateway events and interactions Discord would send it.
import express, { type Request, type Response } from 'express';
import type { DiscordStandIn, SeenEvent } from '../local-discord/server.ts';
import { commandHints, readCommandLine, type CommandDefinition } from './command-line.ts';
import { channelView, messageView, type ViewContext } from './message-view.ts';
import type { KeyReport } from './personas.ts';

export interface ChannelRoutesOptions {
  discord: DiscordStandIn;
  definitions: CommandDefinition[];
  keys: KeyReport;
  /** Things the visitor should know (a persona left out, where records go). */
  notes: string[];
}

/** Discord's limit for a message a person writes. */
const MAX_CONTENT = 2000;
/** Discord gives an app three seconds to answer an autocomplete. */
const AUTOCOMPLETE_MS = 3000;
/** Command lines remembered for "Alice used /ask …" headers. */
const REMEMBERED_COMMANDS = 500;

export function channelRoutes(o: ChannelRoutesOptions): express.Router {
  const { discord } = o;
  const router = express.Router();
  const commandLines = new Map<string, string>();
  const ctx: ViewContext = {
    appId: discord.applicationId,
    lookup: (id) => discord.messages().find((m) => m.id === id),
    commandLine: (id) => commandLines.get(id),
    channelName: (id) => discord.channels().find((c) => c.id === id)?.name,
  };
  const channel = (req: Request, res: Response) => {
    const found = discord.channels().find((c) => c.id === req.params.channelId && c.type !== 4);
    if (!found) res.status(404).json({ error: `There is no channel ${String(req.params.channelId).slice(0, 40)} here.` });
    return found;
  };
  const visibleChannels = () => discord.channels().filter((c) => c.type === 0 || c.type === 11 || c.type === 12).map(channelView);

  router.get('/state', (_req, res) => {
    res.json({
      defaultChannelId: discord.channelId,
      channels: visibleChannels(),
      personas: o.keys.cards,
      missingKeys: o.keys.missing,
      notes: o.notes,
      commands: commandHints(o.definitions),
    });
  });

  router.get('/channels/:channelId/messages', (req, res) => {
    if (!channel(req, res)) return;
    res.json(discord.messages(String(req.params.channelId)).filter((m) => !m.deleted).map((m) => messageView(m, ctx)));
  });

  router.post('/channels/:channelId/messages', async (req, res) => {
    const c = channel(req, res);
    if (!c) return;
    const body = (req.body ?? {}) as { content?: unknown; replyTo?: unknown };
    const content = typeof body.content === 'string' ? body.content.trim() : '';
    if (!content) return void res.status(400).json({ error: 'Write something first.' });
    if (content.length > MAX_CONTENT) return void res.status(400).json({ error: `Discord takes at most ${MAX_CONTENT} characters a message; this one has ${content.length}.` });
    const replyTo = typeof body.replyTo === 'string' && body.replyTo ? body.replyTo : undefined;
    if (replyTo && !discord.messages(c.id).some((m) => m.id === replyTo && !m.deleted)) return void res.status(400).json({ error: 'The message you reply to is gone.' });
    const message = await discord.userSays({ channelId: c.id, content, ...(replyTo ? { replyTo } : {}) });
    res.status(201).json(messageView(message, ctx));
  });

  router.post('/channels/:channelId/commands', async (req, res) => {
    const c = channel(req, res);
    if (!c) return;
    const line = typeof req.body?.line === 'string' ? req.body.line.trim() : '';
    const read = readCommandLine(line, o.definitions);
    if (!read.ok) return void res.status(400).json({ error: read.error });
    const interaction = await discord.userRunsCommand({ channelId: c.id, name: read.name, options: read.options });
    commandLines.set(interaction.id, line);
    if (commandLines.size > REMEMBERED_COMMANDS) commandLines.delete(commandLines.keys().next().value!);
    res.status(202).json({ interactionId: interaction.id });
  });

  router.post('/channels/:channelId/autocomplete', async (req, res) => {
    const c = channel(req, res);
    if (!c) return;
    const line = typeof req.body?.line === 'string' ? req.body.line : '';
    const read = readCommandLine(line, o.definitions, { partial: true });
    const definition = read.ok ? o.definitions.find((d) => d.name === read.name) : undefined;
    if (!read.ok || !read.focused || !definition || !commandHints([definition]).some((h) => h.autocomplete.includes(read.focused!))) return void res.json({ choices: [] });
    const answered = discord.userAutocompletes({ channelId: c.id, name: read.name, options: read.options });
    const choices = await Promise.race([answered, new Promise<[]>((resolve) => setTimeout(() => resolve([]), AUTOCOMPLETE_MS).unref())]);
    res.json({ option: read.focused, choices });
  });

  router.get('/events', (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write('retry: 1000\n\n');
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    const stop = discord.watch((e: SeenEvent) => {
      if (e.kind === 'message_created' || e.kind === 'message_edited') send('message', messageView(e.message, ctx));
      else if (e.kind === 'message_deleted') send('delete', { id: e.message.id, channelId: e.message.channel_id });
      else if (e.kind === 'channel_created') send('channel', channelView(e.channel));
      else if (e.kind === 'typing') send('typing', { channelId: e.channelId, name: 'chorus' });
    });
    req.on('close', stop);
  });

  return router;
}
