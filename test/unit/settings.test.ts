import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { defaultSettings, parseSetting, resolveSettings } from '../../core/settings.ts';

const config = loadConfig({ DISCORD_TOKEN: 'MTIz.x.y', DEFAULT_ROSTER: 'a, c', CHAIN_DEPTH: '3' });
const defaults = defaultSettings(config, ['a', 'b', 'c']);

describe('settings', () => {
  it('takes defaults from configuration, keeping only known personas', () => {
    expect(defaults).toMatchObject({ roster: ['a', 'c'], chainDepth: 3, interjectionProbability: 0, cooldownSeconds: 10, repliesPerMinute: 20, historyMessages: 40 });
    expect(defaultSettings(loadConfig({ DISCORD_TOKEN: 'MTIz.x.y' }), ['a', 'b']).roster).toEqual(['a', 'b']);
  });

  it('lets the nearest layer win and says where each value came from', () => {
    const r = resolveSettings({ guild: { chainDepth: 1, cooldownSeconds: 5 }, parent: { roster: ['b'], chainDepth: 4 }, channel: { cooldownSeconds: 0 } }, defaults);
    expect(r.values).toMatchObject({ roster: ['b'], chainDepth: 4, cooldownSeconds: 0, repliesPerMinute: 20 });
    expect(r.sources).toMatchObject({ roster: 'parent', chainDepth: 'parent', cooldownSeconds: 'channel', repliesPerMinute: 'default' });
  });

  it('parses typed values and explains bad ones', () => {
    expect(parseSetting('roster', 'a, b', ['a', 'b'])).toEqual({ ok: true, value: ['a', 'b'] });
    expect(parseSetting('roster', 'a zed', ['a'])).toEqual({ ok: false, error: 'unknown persona id(s): zed' });
    expect(parseSetting('interjectionProbability', '0.25', [])).toEqual({ ok: true, value: 0.25 });
    expect(parseSetting('interjectionProbability', '2', [])).toEqual({ ok: false, error: 'interjectionProbability must be a number from 0 to 1' });
    expect(parseSetting('chainDepth', 'two', [])).toMatchObject({ ok: false });
    expect(parseSetting('historyMessages', '0', [])).toMatchObject({ ok: false });
  });
});
