import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { commandDefinitions, loadCommands } from '../../commands/index.ts';
import { attachable } from '../../commands/shared.ts';

describe('slash command definitions', () => {
  it('defines each command under the name the gateway runs it by', async () => {
    const definitions = await commandDefinitions();
    expect(definitions.map((d) => d.name)).toEqual([...loadCommands().keys()]);
    for (const d of definitions) expect(d.description.length).toBeGreaterThan(0);
  });
});

describe('a transcript as Discord will take it (attachable)', () => {
  const MiB = 1024 * 1024;
  const lines = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => `{"v":1,"type":"answer","text":"line ${i} of a long transcript, much like the others"}`).join('\n'));

  it('attaches files that fit as they are', () => {
    const files = [{ name: 's.jsonl', data: lines(100) }];
    expect(attachable(files, 10 * MiB, 's')).toEqual({ files, note: '' });
  });

  it('compresses files that do not fit, each under its own name with .gz, and says so', () => {
    const big = lines(200_000);
    expect(big.length).toBeGreaterThan(10 * MiB);
    const { files, note } = attachable([{ name: 's.jsonl', data: big }, { name: 's.md', data: Buffer.from('# small') }], 10 * MiB, 's');
    expect(files.map((f) => f.name)).toEqual(['s.jsonl.gz', 's.md.gz']);
    expect(files.reduce((n, f) => n + f.data.length, 0)).toBeLessThan(10 * MiB);
    expect(gunzipSync(files[0]!.data).equals(big)).toBe(true);
    expect(note).toMatch(/gzip-compressed/);
  });

  it('attaches nothing when even compressed they do not fit, and names the command that writes them', () => {
    const noise = randomBytes(2 * MiB);
    const { files, note } = attachable([{ name: 's.jsonl', data: noise }], MiB, 'sess-1');
    expect(files).toEqual([]);
    expect(note).toMatch(/more than Discord takes here \(1\.0 MB\): `npm run export -- --to files --session sess-1`/);
  });
});
