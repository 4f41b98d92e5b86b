// The transcript viewer: sessions and campaigns, then one session as a thread — each question, the
// answers with their model, host, timing, usage and what each answerer saw, consent, judge scores,
// coverage — and every export as a download. It shows only what the exports would show.
import '@skyra/discord-components-core';
import { api, el, shortTime } from './dom.js';
import { render } from './markdown.js';

const main = document.getElementById('viewer-main');
const avatarPath = (name) => `/avatars/${encodeURIComponent(name || '?')}.svg`;
const EXPORT_LABELS = { jsonl: 'JSONL', markdown: 'Markdown', inspect: 'Inspect log', 'research-commons': 'Research Commons' };

function table(headers, rows) {
  return el('table', {}, [el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h)))), el('tbody', {}, rows)]);
}

async function showIndex() {
  const { sessions, campaigns } = await api('/api/records/sessions');
  main.replaceChildren(
    el('h2', {}, 'Campaigns'),
    campaigns.length
      ? table(['campaign', 'sessions', 'ended', 'protocols', 'personas', 'from', 'to'], campaigns.map((c) => el('tr', { 'data-campaign-id': c.id }, [
          el('td', {}, c.id), el('td', {}, c.sessions), el('td', {}, c.ended), el('td', {}, c.protocols.join(', ')), el('td', {}, c.personas.join(', ')), el('td', {}, shortTime(c.firstAt)), el('td', {}, shortTime(c.lastAt)),
        ])))
      : el('p', { class: 'empty' }, 'No headless campaigns in this record store.'),
    el('h2', {}, 'Sessions'),
    sessions.length
      ? table(['session', 'protocol', 'personas', 'mode', 'interviewer', 'status', 'date', 'questions', 'answers', 'campaign'], sessions.map((s) => el('tr', { 'data-session-id': s.id, class: `status-${s.status}` }, [
          el('td', {}, el('a', { href: `/viewer/sessions/${encodeURIComponent(s.id)}` }, s.title || s.id)),
          el('td', {}, s.protocol ?? (s.kind === 'channel' ? 'recorded channel' : '')), el('td', {}, s.personas.join(', ')), el('td', {}, s.mode ?? ''),
          el('td', {}, s.interviewer ?? ''), el('td', {}, s.status), el('td', {}, shortTime(s.createdAt)), el('td', {}, s.questions), el('td', {}, s.answers), el('td', {}, s.campaignId ?? ''),
        ])))
      : el('p', { class: 'empty' }, 'No sessions yet. Start one with /interview start in the playground, or npm run interview.'),
  );
}

const tokens = (u) => (u ? `${u.inputTokens} in / ${u.outputTokens} out${u.cacheReadTokens ? ` (${u.cacheReadTokens} cached)` : ''}` : 'usage not reported');

function turnFacts(t) {
  return [
    `model ${t.answeredModel}${t.answeredModel !== t.requestedModel ? ` (asked for ${t.requestedModel})` : ''}`,
    `host ${t.host} (${t.provider})`,
    `${t.latencyMs} ms`,
    tokens(t.usage),
    t.stopReason ? `stop: ${t.stopReason}` : null,
  ].filter(Boolean).join(' · ');
}

function requestDetails(t, label) {
  return el('details', { class: 'request' }, [el('summary', {}, label), el('pre', {}, JSON.stringify(t.request, null, 2))]);
}

function answerNode(a) {
  const saw = a.mode === 'blind' || a.saw.length === 0 ? 'saw no other answer' : `saw the answers of ${a.saw.join(', ')}`;
  return el('discord-message', { author: a.persona, avatar: avatarPath(a.persona), bot: true, class: 'answer', 'data-answer-id': a.id, prop: { timestamp: new Date(a.turn.startedAt) } }, [
    ...render(a.text),
    el('div', { class: 'turn-meta' }, [
      el('div', { class: 'facts' }, turnFacts(a.turn)),
      el('div', { class: 'saw' }, `${a.mode} · ${saw}`),
      a.turn.fallbacks.length ? el('div', { class: 'fallbacks' }, `fallbacks: ${a.turn.fallbacks.join('; ')}`) : null,
      a.judgements.map((j) => el('div', { class: 'judgement' }, [
        el('b', {}, `Judge ${j.judge}${j.blind ? ' (blind)' : ''}: `),
        j.scores.map((s, i) => [i ? '; ' : '', `${s.dimension} ${s.value ?? '—'}/${s.max}`, s.rationale ? ` (${s.rationale})` : '']),
      ])),
      requestDetails(a.turn, 'What it was sent (the exact request)'),
    ]),
  ]);
}

function timelineNodes(item) {
  switch (item.kind) {
    case 'question':
      return [
        el('discord-message', { author: item.askedBy, avatar: avatarPath(item.askedBy), bot: Boolean(item.asker), class: 'question', 'data-question-index': item.index }, [
          el('b', {}, `Question ${item.index}${item.followUpOf ? ` (follow-up to ${item.followUpOf})` : ''} · ${item.source}: `), ...render(item.text),
          item.asker ? el('div', { class: 'turn-meta' }, [el('div', { class: 'facts' }, turnFacts(item.asker)), requestDetails(item.asker, 'The auditor\u2019s request')]) : null,
        ]),
        ...item.answers.map(answerNode),
        ...item.failures.map((f) => el('discord-system-message', { type: 'error' }, `${f.persona} gave no answer: ${f.message}`)),
      ];
    case 'notice':
      return [el('discord-system-message', { type: 'alert' }, `${item.persona ? `${item.persona}: ` : ''}${item.text}`)];
    case 'error':
      return [el('discord-system-message', { type: 'error' }, `${item.persona ? `${item.persona}: ` : ''}${item.message}`)];
    case 'paused':
    case 'resumed':
      return [el('discord-system-message', { type: 'edit' }, `Session ${item.kind}${item.by ? ` by ${item.by}` : ''}`)];
    case 'ended':
      return [el('discord-system-message', { type: 'leave' }, `Session ended: ${item.reason}`)];
    case 'withdrawal':
      return [el('discord-system-message', { type: 'leave' }, `${item.persona} withdrew${item.text ? `: “${item.text}”` : ''}`)];
    case 'message':
      return [el('discord-message', { author: item.author, avatar: avatarPath(item.author), edited: item.edited, class: item.deleted ? 'deleted' : '', prop: { timestamp: new Date(item.at) } }, [
        ...render(item.deleted ? `${item.text}\n-# (deleted later)` : item.text),
        item.turn ? el('div', { class: 'turn-meta' }, [el('div', { class: 'facts' }, turnFacts(item.turn)), requestDetails(item.turn, 'What it was sent')]) : null,
      ])];
    default:
      return [];
  }
}

async function showSession(id) {
  const s = await api(`/api/records/sessions/${encodeURIComponent(id)}`);
  document.title = `${s.title} — chorus transcripts`;
  const facts = [
    ['status', s.status], ['started', shortTime(s.createdAt)], ['protocol', s.protocol ? `${s.protocol.title} (${s.protocol.id}, sha256 ${s.protocol.sha256.slice(0, 12)}…)` : null],
    ['mode', s.mode], ['interviewer', s.interviewer], ['campaign', s.campaign ? `${s.campaign.id}, cell ${s.campaign.cell}, repeat ${s.campaign.repeat}` : null],
    ['re-run of', s.rerunOf ? `${s.rerunOf.sessionId} (${s.rerunOf.changes})` : null], ['chorus', s.chorusVersion],
  ].filter(([, v]) => v);
  main.replaceChildren(...[
    el('h2', {}, s.title),
    el('p', { class: 'privacy' }, 'People are pseudonymised and the words of those who opted out are withheld, exactly as in the exports.'),
    el('dl', { class: 'facts' }, facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
    el('div', { class: 'downloads' }, [el('b', {}, 'Download: '), s.exports.map((kind) => el('a', { href: `/api/records/sessions/${encodeURIComponent(s.id)}/exports/${kind}`, download: '', class: 'download', 'data-export': kind }, EXPORT_LABELS[kind] ?? kind))]),
    s.roster.length ? el('section', {}, [el('h3', {}, 'Personas'), el('ul', {}, s.roster.map((r) => el('li', {}, `${r.name}: ${r.hosts.join(', ')}`)))]) : null,
    s.disclosure ? el('section', {}, [el('h3', {}, `Disclosure ${s.disclosure.toModels ? '(also given to the models)' : '(people only)'}`), el('blockquote', {}, s.disclosure.text)]) : null,
    s.consent.length ? el('section', { class: 'consent' }, [el('h3', {}, 'Consent'), table(['persona', 'decision', 'answer', 'classified by'], s.consent.map((c) => el('tr', {}, [
      el('td', {}, c.persona), el('td', {}, c.decision + (c.conditions ? `: ${c.conditions}` : '')), el('td', {}, [c.text, requestDetails(c.turn, 'Overview and request')]), el('td', {}, c.classifiedBy),
    ])))]) : null,
    el('section', { class: 'thread' }, [el('h3', {}, 'Thread'), el('discord-messages', { 'channel-type': 'thread', 'channel-name': s.title }, s.timeline.flatMap(timelineNodes))]),
    s.coverage ? el('section', { class: 'coverage' }, [el('h3', {}, `Topic coverage (${s.coverage.decidedBy})`), el('ul', {}, s.coverage.topics.map((t) => el('li', { class: t.reached ? 'reached' : 'not-reached' }, `${t.topic}: ${t.reached ? `reached (question ${t.questions.join(', ')})` : 'not reached'}`)))]) : null,
    s.usage.length ? el('section', {}, [el('h3', {}, 'Usage'), table(['persona', 'input tokens', 'output tokens'], s.usage.map((u) => el('tr', {}, [el('td', {}, u.persona), el('td', {}, u.usage.inputTokens), el('td', {}, u.usage.outputTokens)])))]) : null,
  ].filter(Boolean));
}

async function start() {
  const about = await api('/api/about');
  document.getElementById('records-label').textContent = `records: ${about.records}${about.playground ? ' (playground)' : ''}`;
  const match = location.pathname.match(/^\/viewer\/sessions\/(.+)$/);
  if (match) await showSession(decodeURIComponent(match[1]));
  else await showIndex();
  document.body.dataset.ready = 'true';
}

start().catch((err) => main.replaceChildren(el('p', { class: 'error', role: 'alert' }, err.message)));
