// A schema of its own in the local PostgreSQL, reached through a TCP proxy that can be taken down and
// put back (test/support/tcp-proxy.ts): the database of a test or a fault scenario, as chorus sees it.
import pg from 'pg';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

export interface ScratchDatabase {
  /** chorus's DATABASE_URL: through the proxy, into the schema. */
  url: string;
  proxy: TcpProxy;
  /** Drops the schema and closes the proxy. */
  close(): Promise<void>;
}

export async function openScratchDatabase(name: string): Promise<ScratchDatabase> {
  const base = new URL(process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
  const schema = `${name}_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: base.href });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const proxy = await startTcpProxy({ host: base.hostname, port: Number(base.port || 5432) });
  const url = new URL(base.href);
  url.port = String(proxy.port);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: url.href,
    proxy,
    async close() {
      await proxy.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    },
  };
}
