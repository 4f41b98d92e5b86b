import { describe, expect, it } from 'vitest';
import { commandDefinitions, loadCommands } from '../../commands/index.ts';

describe('slash command definitions', () => {
  it('defines each command under the name the gateway runs it by', async () => {
    const definitions = await commandDefinitions();
    expect(definitions.map((d) => d.name)).toEqual([...loadCommands().keys()]);
    for (const d of definitions) expect(d.description.length).toBeGreaterThan(0);
  });
});
