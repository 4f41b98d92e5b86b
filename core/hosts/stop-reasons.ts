// What a host's stop reason says of the answer it ends. Pure.

/**
 * Whether a limit cut the answer off, not the model's own ending: its token limit (Anthropic's
 * `max_tokens`, OpenAI's `length`), or the model's context window filled as it wrote (Anthropic's
 * `model_context_window_exceeded`, which its SDKs read as a length stop too).
 */
export function cutByLimit(stopReason: string | null | undefined): boolean {
  return stopReason === 'max_tokens' || stopReason === 'length' || stopReason === 'model_context_window_exceeded';
}
