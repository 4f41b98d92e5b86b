// BullMQ's producer classes, loaded on their own. `bullmq`'s index loads every class and backend it
// has (its PostgreSQL backend, Bun and Valkey clients, the worker and sandbox machinery): about
// 5 MB of memory in a process that only adds jobs, which the gateway is, and whose memory is a
// target (ARCHITECTURE.md). The modules are the very ones the index loads (same files, one module
// cache), so a worker importing `bullmq` gets the same classes; their types are the index's.
import { createRequire } from 'node:module';
import type * as BullMQ from 'bullmq';

const require = createRequire(import.meta.url);

export const { Queue } = require('bullmq/dist/cjs/classes/queue.js') as { Queue: typeof BullMQ.Queue };
export const { FlowProducer } = require('bullmq/dist/cjs/classes/flow-producer.js') as { FlowProducer: typeof BullMQ.FlowProducer };
export type Queue<D = unknown, R = unknown, N extends string = string> = BullMQ.Queue<D, R, N>;
export type FlowProducer = BullMQ.FlowProducer;
