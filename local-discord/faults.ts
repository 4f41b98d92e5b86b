// REST faults a test asks for: the next matching request gets an error status or no answer at all,
// optionally after Discord carried it out (a post Discord took whose answer was lost).

export type Fault =
  | { status: number; body?: object; headers?: Record<string, string>; accept?: boolean }
  | { drop: true; accept?: boolean };

export type FaultFilter = (call: { method: string; path: string; body: unknown }) => boolean;

interface Pending<C> {
  filter: FaultFilter;
  fault: Fault;
  resolve: (call: C) => void;
}

/** A 404 names what was unknown, as Discord's JSON error codes do. */
function unknown(path: string): Record<string, unknown> {
  if (/\/messages\/[^/]+$/.test(path)) return { message: 'Unknown Message', code: 10008 };
  if (/\/webhooks\//.test(path)) return { message: 'Unknown Webhook', code: 10015 };
  if (/\/channels\//.test(path)) return { message: 'Unknown Channel', code: 10003 };
  if (/\/roles\/[^/]+$/.test(path)) return { message: 'Unknown Role', code: 10011 };
  if (/\/guilds\//.test(path)) return { message: 'Unknown Guild', code: 10004 };
  return { message: '404: Not Found', code: 0 };
}

/** Discord's bodies for common statuses (a test may pass its own, e.g. 400 with errors). */
export function defaultErrorBody(status: number, path: string): Record<string, unknown> {
  switch (status) {
    case 400: return { message: 'Invalid Form Body', code: 50035, errors: {} };
    case 401: return { message: '401: Unauthorized', code: 0 };
    case 403: return { message: 'Missing Permissions', code: 50013 };
    case 404: return unknown(path);
    case 429: return { message: 'You are being rate limited.', retry_after: 1, global: false };
    case 502: return { message: '502: Bad Gateway', code: 0 };
    default: return { message: `${status}: ${status >= 500 ? 'Internal Server Error' : 'Error'}`, code: 0 };
  }
}

/** What the client receives for a fault: status, body and (for 429s) Discord's limit headers. */
export function faultAnswer(fault: Fault, path: string): { status: number; payload: unknown; headers: Record<string, string> } {
  if ('drop' in fault) return { status: 0, payload: undefined, headers: {} };
  const payload = fault.body ?? defaultErrorBody(fault.status, path);
  let headers: Record<string, string> = {};
  if (fault.status === 429) {
    const retry = Number((payload as { retry_after?: unknown }).retry_after ?? 1) || 1;
    headers = { 'Retry-After': String(Math.ceil(retry)), 'X-RateLimit-Scope': 'user', 'X-RateLimit-Remaining': '0' };
  }
  return { status: fault.status, payload, headers: { ...headers, ...fault.headers } };
}

export function createFaults<C extends { method: string; path: string; body: unknown }>() {
  const pending: Pending<C>[] = [];
  return {
    /** Arms a fault for the next request the filter accepts; resolves with that call once applied. */
    add(filter: FaultFilter, fault: Fault): Promise<C> {
      return new Promise<C>((resolve) => pending.push({ filter, fault, resolve }));
    },
    /** The fault for this request, if one is armed for it (each fault fires once). */
    take(call: C): (Fault & { resolve: (c: C) => void }) | undefined {
      const i = pending.findIndex((p) => p.filter({ method: call.method, path: call.path, body: call.body }));
      if (i < 0) return undefined;
      const [p] = pending.splice(i, 1);
      return p ? { ...p.fault, resolve: p.resolve } : undefined;
    },
    applied(fault: { resolve: (c: C) => void }, call: C): void {
      fault.resolve(call);
    },
  };
}
