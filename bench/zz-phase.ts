import { Redis } from 'ioredis';
import { Worker } from 'bullmq';
const now = () => performance.timeOrigin + performance.now();
let marks: Record<string, number> | undefined;
const mark = (k: string) => { if (marks && marks[k] === undefined) marks[k] = now(); };
const origSend = (Redis.prototype as any).sendCommand;
(Redis.prototype as any).sendCommand = function (cmd: any, ...rest: any[]) {
  if (marks) {
    const a0 = String(cmd.args?.[0] ?? '');
    if (cmd.name === 'evalsha' && marks.recv && !marks.addSent && !marks.proc) { mark('addSent'); cmd.promise?.then?.(() => mark('addDone')); }
    if (cmd.name === 'multi' && marks.proc) { mark('preSent'); }
    if (cmd.name === 'exec' && marks.proc && !marks.preDone) cmd.promise?.then?.(() => mark('preDone'));
    if (cmd.name === 'bzpopmin') cmd.promise?.then?.(() => mark('marker'));
  }
  return origSend.call(this, cmd, ...rest);
};
const origFetch = globalThis.fetch;
globalThis.fetch = (async (...a: any[]) => { if (String(a[0]).includes('/v1/messages')) mark('fetch'); return origFetch(...(a as [any])); }) as any;
const origProc = (Worker.prototype as any).processJob;
(Worker.prototype as any).processJob = function (job: any, ...r: any[]) { mark('proc'); return origProc.call(this, job, ...r); };
const { startHarness } = await import('../test/e2e/harness.ts');
const h = await startHarness();
const channelId = h.discord.addChannel({ name: 'overhead' });
h.anthropicHost.setResponder(() => { mark('host'); return { text: 'ok' }; });
const rows: Record<string, number>[] = [];
for (let i = 0; i < 300; i++) {
  const content = `Opus, message ${i}`;
  const posted = h.discord.nextMessage((m) => m.channel_id === channelId && m.webhook_id !== undefined);
  marks = {};
  const m0 = marks;
  const said = h.discord.userSays({ channelId, content });
  await said; await posted; await h.settled();
  marks = undefined;
  const job = h.outcomes.findLast((o) => o.turn.trigger.content === content)?.job;
  m0.recv = job!.receivedAt;
  rows.push(m0);
  await new Promise((r) => setTimeout(r, 50));
}
const phases = ['recv', 'addSent', 'addDone', 'marker', 'proc', 'preSent', 'preDone', 'fetch', 'host'];
const sorted = rows.slice(5).sort((a, b) => (b.host! - b.recv!) - (a.host! - a.recv!));
const fmt = (r: Record<string, number>) => phases.slice(1).map((p, i) => `${p}+${((r[p] ?? NaN) - (r[phases[i]!] ?? NaN)).toFixed(2)}`).join(' ') + `  total ${(r.host! - r.recv!).toFixed(2)}`;
console.log('median-ish:', fmt(sorted[Math.floor(sorted.length / 2)]!));
for (const r of sorted.slice(0, 8)) console.log(fmt(r));
await h.close(); process.exit(0);
