// A model's reasoning, told apart from its answer. Reasoning models on OpenAI-compatible servers
// (DeepSeek-R1 and its distills on vLLM, Ollama, llama.cpp without a reasoning parser) write it in
// the answer itself, between `<think>` and `</think>`; the distills often leave the opening tag to
// their chat template, so only `</think>` appears. Either way it is not the persona's words: it is
// never posted, never read by other personas, never parsed as an auditor's question or a judge's
// verdict, and it is kept with the model turn for the record. Pure.

const OPEN = '<think>';
const CLOSE = '</think>';

export interface ReasoningSplitter {
  /** Takes a piece of the model's text; returns what of it is answer, to show now. */
  push(delta: string): string;
  /** At the end: the whole answer and the whole reasoning (empty strings when there is none). */
  end(): { answer: string; reasoning: string };
}

export function createReasoningSplitter(): ReasoningSplitter {
  let state: 'start' | 'thinking' | 'answer' = 'start';
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
      reasoning += pending.slice(0, at);
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
    end() {
      if (state === 'thinking') {
        // Cut off while thinking (its token limit): all of it was reasoning, and there is no answer.
        reasoning += pending;
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
