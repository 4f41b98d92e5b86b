// Events of one channel are handled in the order Discord sent them (an edit or a deletion must never
// overtake the message's creation, a message read late must not overtake one read live); different
// channels go on at once. A task that fails costs itself only: the channel's later tasks still run,
// and its failure is its caller's to handle (never an unhandled rejection here).

export type InChannelOrder = <T>(channelId: string, task: () => Promise<T>) => Promise<T>;

export function createChannelOrder(): InChannelOrder {
  const queues = new Map<string, Promise<unknown>>();
  return <T>(channelId: string, task: () => Promise<T>): Promise<T> => {
    const run = (queues.get(channelId) ?? Promise.resolve()).catch(() => undefined).then(task);
    queues.set(channelId, run);
    run.finally(() => queues.get(channelId) === run && queues.delete(channelId)).catch(() => undefined);
    return run;
  };
}
