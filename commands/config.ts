// /config view | set | reset — this channel's or the server's settings, and where each value comes
// from. Everyone may view; changing needs the moderation permission (server-wide for the server).
import type { SlashCommandStringOption } from '@discordjs/builders';
import { BUDGET_KEYS, parseSetting, SETTING_KEYS, type ResolvedSettings, type SettingKey } from '../core/settings.ts';
import { placeOf, refuseUnlessModerator, type SlashCommand } from './shared.ts';

const EXPLAIN: Record<SettingKey, string> = {
  roster: 'personas here (ids, comma-separated)',
  interjectionProbability: 'chance a roster persona joins in when nobody is addressed (0–1)',
  chainDepth: 'persona posts in a row before a human must speak',
  cooldownSeconds: 'seconds a persona waits before joining in again',
  repliesPerMinute: 'cap on persona-to-persona replies and interjections per minute',
  historyMessages: 'messages of context a persona reads',
  guildDailyTokens: "tokens this server's personas may use per UTC day, all together (0: no limit; server scope)",
  personaDailyTokens: 'tokens each persona may use per UTC day in this server (0: no limit; server scope)',
};

export function describeSettings({ values, sources }: ResolvedSettings): string {
  const from = { channel: 'set here', parent: 'from the parent channel', guild: 'from the server', default: 'default' } as const;
  return SETTING_KEYS.map((k) => {
    const v = values[k];
    const shown = Array.isArray(v) ? v.join(', ') || '(nobody)' : BUDGET_KEYS.includes(k) ? (v ? Number(v).toLocaleString('en-US') : 'no limit') : v;
    return `**${k}**: ${shown} — *${from[sources[k]]}*\n-# ${EXPLAIN[k]}`;
  }).join('\n');
}

const keyOption = (o: SlashCommandStringOption) =>
  o.setName('key').setDescription('Setting').setRequired(true).addChoices(...SETTING_KEYS.map((k) => ({ name: k, value: k })));
const scopeOption = (o: SlashCommandStringOption) =>
  o.setName('scope').setDescription('This channel (default) or the whole server').addChoices({ name: 'channel', value: 'channel' }, { name: 'server', value: 'guild' });

export const command: SlashCommand = {
  name: 'config',
  define: (b) =>
    new b.SlashCommandBuilder()
      .setName('config')
      .setDescription("View or change chorus's settings for this channel or server")
      .addSubcommand((c) => c.setName('view').setDescription('Show the settings in force here'))
      .addSubcommand((c) =>
        c
          .setName('set')
          .setDescription('Change a setting')
          .addStringOption(keyOption)
          .addStringOption((o) => o.setName('value').setDescription('New value').setRequired(true))
          .addStringOption(scopeOption),
      )
      .addSubcommand((c) => c.setName('reset').setDescription('Go back to the inherited value').addStringOption(keyOption).addStringOption(scopeOption))
      .toJSON(),
  async execute(ctx, s) {
    const sub = ctx.subcommand;
    const scope = (ctx.string('scope') ?? 'channel') as 'channel' | 'guild';
    if (sub !== 'view' && (await refuseUnlessModerator(ctx, s, scope))) return;
    await ctx.defer({ ephemeral: true });
    const place = placeOf(ctx);
    if (sub !== 'view') {
      const key = ctx.string('key') as SettingKey;
      const id = scope === 'guild' ? place.guildId : place.channelId;
      if (!id) return ctx.edit('Server settings need a server.');
      if (!SETTING_KEYS.includes(key)) return ctx.edit(`Not changed: there is no setting "${String(key).slice(0, 40)}".`);
      // Budgets are counted per server: a channel's own value would mean nothing.
      if (BUDGET_KEYS.includes(key) && scope !== 'guild') return ctx.edit(`Not changed: ${key} is a server budget; add \`scope: server\`.`);
      if (sub === 'reset') {
        await s.settings.unset(scope, id, key);
      } else {
        const parsed = parseSetting(key, ctx.string('value') ?? '', s.personas.map((p) => p.id));
        if (!parsed.ok) return ctx.edit(`Not changed: ${parsed.error}.`);
        await s.settings.set(scope, id, key, parsed.value);
      }
      s.log.info({ scope, id, key, sub, by: ctx.user.id }, 'setting changed');
    }
    return ctx.edit(describeSettings(await s.settings.resolve(place)));
  },
};
