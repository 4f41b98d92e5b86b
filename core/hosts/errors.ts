// A host's failure that the fallback decides on, in a module of its own: the fallback (which the
// gateway loads, for /personas and metrics) must not load the SDKs the clients are built on (about
// 16 MB of the gateway's memory).

/**
 * A host's answer that is no answer of its API: a web page where the API should be (a base URL that
 * names a web UI or a login page), or an error in a shape the SDKs do not read (vLLM's flat
 * `{"object": "error", "code": 400}`). `status` is the HTTP status the host's words carry, when they
 * carry one; a page in place of an answer says nothing of a status and is the host's configuration
 * at fault, which asking again will not mend.
 */
export class HostAnswerError extends Error {
  override name = 'HostAnswerError';
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
  }
}
