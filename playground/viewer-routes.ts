// The transcript viewer's data: sessions and campaigns, one session as a thread, and every export
// as a download. Read-only by type (it is handed only the store's readers), and every event passes
// through the exports' redaction before it leaves, so withheld words never reach the page.
import express from 'express';
import { describeRefusals, exportFiles, type ExportKind } from '../core/transcript/dataset.ts';
import { prepareForExport } from '../core/transcript/redact.ts';
import type { RecordStore } from '../core/transcript/store.ts';
import { campaignRows, newestFirst, sessionRow } from './session-list.ts';
import { sessionView } from './session-view.ts';

/** What the viewer may do with a record store: read. */
export type RecordReader = Pick<RecordStore, 'sessions' | 'session' | 'events' | 'optedOut'>;

const EXPORTS: Record<string, { file: ExportKind; type: string }> = {
  jsonl: { file: 'jsonl', type: 'application/x-ndjson' },
  markdown: { file: 'markdown', type: 'text/markdown; charset=utf-8' },
  inspect: { file: 'inspect', type: 'application/json' },
  'research-commons': { file: 'researchCommons', type: 'application/json' },
};

export function viewerRoutes(records: () => Promise<RecordReader>): express.Router {
  const router = express.Router();

  router.get('/sessions', async (_req, res) => {
    const store = await records();
    const sessions = await store.sessions();
    const optedOut = await store.optedOut();
    // Even the list shows people as the exports do (a human interviewer's name is a pseudonym).
    const rows = await Promise.all(sessions.map(async (s) => sessionRow(s, prepareForExport(await store.events(s.id), { optedOut, pseudonymise: true }))));
    res.json({ sessions: newestFirst(rows), campaigns: campaignRows(rows), exports: Object.keys(EXPORTS) });
  });

  router.get('/sessions/:id', async (req, res) => {
    const store = await records();
    const session = await store.session(req.params.id);
    if (!session) return void res.status(404).json({ error: `There is no session ${req.params.id.slice(0, 80)} in this record store.` });
    const events = prepareForExport(await store.events(session.id), { optedOut: await store.optedOut(), pseudonymise: true });
    res.json({ ...sessionView(session, events), exports: Object.keys(EXPORTS) });
  });

  router.get('/sessions/:id/exports/:kind', async (req, res) => {
    const kind = EXPORTS[req.params.kind];
    if (!kind) return void res.status(404).json({ error: `There is no export "${req.params.kind.slice(0, 40)}"; there are ${Object.keys(EXPORTS).join(', ')}.` });
    const store = await records();
    const session = await store.session(req.params.id);
    if (!session) return void res.status(404).json({ error: `There is no session ${req.params.id.slice(0, 80)} in this record store.` });
    const { files, refused } = exportFiles(session.id, await store.events(session.id), await store.optedOut(), { kinds: [kind.file] });
    const file = files[kind.file];
    // An export that breaks its target's rules is never handed out; the researcher is told why.
    if (!file) return void res.status(422).json({ error: describeRefusals(refused) });
    res.setHeader('content-type', kind.type);
    res.setHeader('content-disposition', `attachment; filename="${file.name.replace(/[^\w.-]/g, '_')}"`);
    res.send(file.text);
  });

  return router;
}
