// /config view | set | reset — this channel's or guild's settings, and where each value comes
// from. Everyone may view; changing needs the moderation permission.
import { MessageFlags, SlashCommandBuilder } from 'discord.js';
import { parseSetting, SETTING_KEYS, type ResolvedSettings, type SettingKey } from '../core/settings.ts';
import { placeOf, refuseUnlessModerator, type SlashCommand } from './index.ts';

const EXPLAIN: Record<SettingKey, string> = {
  roster: 'personas here (ids, comma-separated)',
  interjectionProbability: 'chance a roster persona joins in when nobody is addressed (0–1)',
  chainDepth: 'persona posts in a row before a human must speak',
  cooldownSeconds: 'seconds a persona waits before joining in again',
  repliesPerMinute: 'cap on persona-to-persona replies and interjections per minute',
  historyMessages: 'messages of context a persona reads',
};

export function describeSettings({ values, sources }: ResolvedSettings): string {
  const from = { channel: 'set here', parent: 'from the parent channel', guild: 'from the server', default: 'default' } as const;
  return SETTING_KEYS.map((k) => {
    const v = values[k];
    return `**${k}**: ${Array.isArray(v) ? v.join(', ') || '(nobody)' : v} — *${from[sources[k]]}*\n-# ${EXPLAIN[k]}`;
  }).join('\n');
}

const keyOption = (o: import('discord.js').SlashCommandStringOption) =>
  o.setName('key').setDescription('Setting').setRequired(true).addChoices(...SETTING_KEYS.map((k) => ({ name: k, value: k })));
const scopeOption = (o: import('discord.js').SlashCommandStringOption) =>
  o.setName('scope').setDescription('This channel (default) or the whole server').addChoices({ name: 'channel', value: 'channel' }, { name: 'server', value: 'guild' });

export const command: SlashCommand = {
  data: new SlashCommandBuilder()
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
  async execute(interaction, s) {
    const sub = interaction.options.getSubcommand();
    if (sub !== 'view' && (await refuseUnlessModerator(interaction, s))) return;
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const place = placeOf(interaction);
    if (sub !== 'view') {
      const key = interaction.options.getString('key', true) as SettingKey;
      const scope = (interaction.options.getString('scope') ?? 'channel') as 'channel' | 'guild';
      const id = scope === 'guild' ? place.guildId : place.channelId;
      if (!id) return interaction.editReply('Server settings need a server.');
      if (sub === 'reset') {
        await s.settings.unset(scope, id, key);
      } else {
        const parsed = parseSetting(key, interaction.options.getString('value', true), s.personas.map((p) => p.id));
        if (!parsed.ok) return interaction.editReply(`Not changed: ${parsed.error}.`);
        await s.settings.set(scope, id, key, parsed.value);
      }
      s.log.info({ scope, id, key, sub, by: interaction.user.id }, 'setting changed');
    }
    return interaction.editReply({ content: describeSettings(await s.settings.resolve(place)).slice(0, 2000), allowedMentions: { parse: [] } });
  },
};
