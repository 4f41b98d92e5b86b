// A model's reasoning, told apart from its answer. Reasoning models on OpenAI-compatible servers
// (DeepSeek-R1 and its distills on vLLM, Ollama, llama.cpp without a reasoning parser) write it in
// the answer itself, between `<think>` and `</think>`; the distills often leave the opening tag to
// their chat template, so only `</think>` appears. Either way it is not the persona's words: it is
// never posted, never read by other personas, never parsed as an auditor's question or a judge's
// verdict, and it is kept with the model turn for the record. Pure.
import { cutByLimit } from './stop-reasons.ts';

const OPEN = '<think>';
const CLOSE = '</think>';

export interface ReasoningSplitter {
  /** Takes a piece of the model's text; returns what of it is answer, to show now. */
  push(delta: string): string;
  /**
   * At the end, with the host's stop reason: the whole answer and the whole reasoning (empty strings
   * when there is none).
   */
  end(stopReason?: string | null): { answer: string; reasoning: string };
}

/**
 * `thinksFirst`: the model's text begins inside its reasoning (a chat template that opens `<think>`
 * for it, as DeepSeek-R1's distills have), so nothing shows until `</think>`; a text that never
 * closes it was all answer after all. Without it, such reasoning is told apart only at the end, and
 * a streamed preview shows it until the final edit.
 */
export function createReasoningSplitter(opts: { thinksFirst?: boolean } = {}): ReasoningSplitter {
  let state: 'start' | 'thinking' | 'answer' = opts.thinksFirst ? 'thinking' : 'start';
  let opened = !opts.thinksFirst; // whether a <think> tag opened the reasoning, if any
  let pending = ''; // text not yet placed: the start (a tag may be coming), or reasoning
  let reasoning = '';
  let answer = '';
  let afterReasoning = false; // the blank lines between the reasoning and the answer are neither

  const toAnswer = (text: string) => {
    const shown = afterReasoning ? text.replace(/^\s+/, '') : text;
    if (shown) afterReasoning = false;
    answer += shown;
    return shown;
  };

  function place(): string {
    if (state === 'start') {
      const lead = pending.trimStart();
      if (lead.startsWith(OPEN)) {
        state = 'thinking';
        opened = true;
        pending = lead.slice(OPEN.length);
      } else if (OPEN.startsWith(lead)) {
        return ''; // all blank so far, or the tag's start: wait for more
      } else {
        state = 'answer';
        const text = pending;
        pending = '';
        return toAnswer(text);
      }
    }
    if (state === 'thinking') {
      const at = pending.indexOf(CLOSE);
      if (at < 0) return '';
      reasoning += pending.slice(0, at).replace(/^\s*<think>/, '');
      const rest = pending.slice(at + CLOSE.length);
      pending = '';
      state = 'answer';
      afterReasoning = true;
      return toAnswer(rest);
    }
    return '';
  }

  return {
    push(delta) {
      if (state === 'answer') return toAnswer(delta);
      pending += delta;
      return place();
    },
    end(stopReason) {
      const cutOff = cutByLimit(stopReason);
      if (state === 'thinking' && !opened && !cutOff && !pending.trimStart().startsWith(OPEN)) {
        // Told it would think first, it finished without closing a reasoning: it answered straight away.
        answer += pending;
      } else if (state === 'thinking') {
        // Cut off while thinking (its token limit): all of it was reasoning, and there is no answer.
        reasoning += pending.replace(/^\s*<think>/, '');
      } else if (state === 'start') {
        answer += pending; // a blank answer, or one that is only the tag's start
      } else {
        // Only the closing tag (its opening was in the chat template): what came before it was reasoning.
        const at = answer.indexOf(CLOSE);
        if (at >= 0 && !reasoning) {
          reasoning = answer.slice(0, at);
          answer = answer.slice(at + CLOSE.length);
        }
      }
      pending = '';
      return { answer: answer.trim(), reasoning: reasoning.trim() };
    },
  };
}
