// The playground page: a Discord channel drawn with the Discord message components. Everything the
// visitor does goes to the local Discord as a member's message or slash command; everything shown
// comes back from it, live, over server-sent events.
import '@skyra/discord-components-core';
import { api, el } from './dom.js';
import { render } from './markdown.js';

const $ = (id) => document.getElementById(id);
const state = { loading: null, channels: new Map(), current: '', messages: new Map(), replyTo: null, commands: [] };

const avatarPath = (name) => `/avatars/${encodeURIComponent(name || '?')}.svg`;
const channelName = (id) => state.channels.get(id)?.name;
const byId = (a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);

function showError(text) {
  $('error').textContent = text ?? '';
}

// --- channels -----------------------------------------------------------------------------

function renderChannels() {
  const list = $('channel-list');
  list.replaceChildren();
  const top = [...state.channels.values()].filter((c) => !c.thread);
  for (const c of top) {
    list.append(channelItem(c, `# ${c.name}`));
    for (const t of [...state.channels.values()].filter((x) => x.parentId === c.id)) list.append(channelItem(t, `↳ ${t.name}`, true));
  }
}

function channelItem(c, label, thread = false) {
  return el('li', { class: `channel${thread ? ' thread' : ''}${c.id === state.current ? ' current' : ''}${c.unread ? ' unread' : ''}` }, [
    el('a', { href: `#${c.id}`, 'data-channel-id': c.id, on: { click: (e) => { e.preventDefault(); openChannel(c.id); } } }, label),
  ]);
}

async function openChannel(id) {
  const c = state.channels.get(id);
  if (!c) return;
  state.current = id;
  c.unread = false;
  clearReply();
  const parent = c.parentId ? state.channels.get(c.parentId) : undefined;
  $('channel-title').textContent = parent ? `# ${parent.name} › ${c.name}` : `# ${c.name}`;
  $('input').placeholder = `Message ${c.thread ? c.name : `#${c.name}`} — name a persona, or type / for commands`;
  history.replaceState(null, '', `#${id}`);
  renderChannels();
  // Changes that arrive while the history loads are applied after it, in the order they came.
  const buffered = [];
  state.loading = { id, buffered };
  const views = await api(`/api/channel/channels/${id}/messages`);
  if (state.current !== id) return;
  state.loading = null;
  state.messages.set(id, new Map(views.map((v) => [v.id, v])));
  $('messages').replaceChildren(...views.map(messageNode));
  for (const apply of buffered) apply();
  scrollDown();
}

// --- messages -----------------------------------------------------------------------------

function messageNode(v) {
  if (v.system?.kind === 'thread') {
    return el('discord-system-message', { type: 'thread', 'data-id': v.id, prop: { timestamp: new Date(v.timestamp) } }, [
      el('i', {}, v.author.name), ' started a thread: ',
      el('a', { href: `#${v.system.threadId}`, class: 'thread-link', on: { click: (e) => { e.preventDefault(); openChannel(v.system.threadId); } } }, v.system.name),
    ]);
  }
  const children = [];
  if (v.command) children.push(el('discord-command', { slot: 'reply', author: v.command.by, avatar: avatarPath(v.command.by), command: v.command.line }));
  else if (v.reply !== undefined) {
    children.push(el('discord-reply', { slot: 'reply', author: v.reply?.author ?? '', avatar: v.reply?.avatarUrl, deleted: v.reply === null }, v.reply?.content ?? 'Original message was deleted'));
  }
  if (v.thinking) children.push(el('em', { class: 'thinking' }, `${v.author.name} is thinking…`));
  else children.push(...render(v.content, channelName));
  const message = el('discord-message', {
    'data-id': v.id,
    'data-author-kind': v.author.kind,
    author: v.author.name,
    avatar: v.author.avatarUrl,
    bot: v.author.kind !== 'person',
    edited: v.edited,
    ephemeral: v.ephemeral,
    prop: { timestamp: new Date(v.timestamp) },
  }, children);
  fallBackAvatar(message, v.author.name);
  const reply = el('button', { type: 'button', class: 'reply-button', title: 'Reply', 'aria-label': `Reply to ${v.author.name}`, on: { click: () => startReply(v) } }, '↩');
  return el('div', { class: 'message-row', 'data-row-id': v.id }, [message, v.ephemeral || v.system ? null : reply]);
}

/** An avatar that cannot be loaded (a made-up address in a persona file) gives way to a drawn one. */
function fallBackAvatar(message, name) {
  const fallback = avatarPath(name);
  if (message.getAttribute('avatar') === fallback) return;
  void message.updateComplete?.then(() => {
    const img = message.shadowRoot?.querySelector('.discord-author-avatar img');
    if (!img) return;
    const swap = () => message.setAttribute('avatar', fallback);
    if (img.complete && img.naturalWidth === 0 && img.src) swap();
    else img.addEventListener('error', swap, { once: true });
  });
}

function upsert(v) {
  if (state.loading?.id === v.channelId) return void state.loading.buffered.push(() => upsert(v));
  const map = state.messages.get(v.channelId);
  if (map) map.set(v.id, v);
  if (v.channelId !== state.current) {
    const c = state.channels.get(v.channelId);
    if (c && !c.unread) { c.unread = true; renderChannels(); }
    return;
  }
  if (v.author.kind === 'persona') $('typing').textContent = '';
  const node = messageNode(v);
  const container = $('messages');
  const existing = container.querySelector(`[data-row-id="${v.id}"], discord-system-message[data-id="${v.id}"]`);
  const atBottom = nearBottom();
  if (existing) {
    existing.replaceWith(node);
    if (atBottom) scrollDown();
    return;
  }
  // In id order: an answer posted late still lands where Discord shows it.
  const after = [...container.children].find((n) => byId((n.dataset.rowId ?? n.dataset.id), v.id) > 0);
  container.insertBefore(node, after ?? null);
  if (atBottom) scrollDown();
}

function remove(d) {
  if (state.loading?.id === d.channelId) return void state.loading.buffered.push(() => remove(d));
  const { id } = d;
  document.querySelector(`[data-row-id="${id}"], discord-system-message[data-id="${id}"]`)?.remove();
}

const nearBottom = () => { const s = $('scroller'); return s.scrollHeight - s.scrollTop - s.clientHeight < 120; };
const scrollDown = () => { const s = $('scroller'); s.scrollTop = s.scrollHeight; };

function startReply(v) {
  state.replyTo = v.id;
  $('reply-label').textContent = `Replying to ${v.author.name}`;
  $('reply-bar').hidden = false;
  $('input').focus();
}

function clearReply() {
  state.replyTo = null;
  $('reply-bar').hidden = true;
}

// --- the live feed ------------------------------------------------------------------------

let typingTimer;
function follow() {
  const events = new EventSource('/api/channel/events');
  events.addEventListener('message', (e) => upsert(JSON.parse(e.data)));
  events.addEventListener('delete', (e) => remove(JSON.parse(e.data)));
  events.addEventListener('channel', (e) => {
    const c = JSON.parse(e.data);
    if (!state.channels.has(c.id)) { state.channels.set(c.id, c); renderChannels(); }
  });
  events.addEventListener('typing', (e) => {
    const t = JSON.parse(e.data);
    if (t.channelId !== state.current) return;
    $('typing').textContent = `${t.name} is typing…`;
    clearTimeout(typingTimer);
    // Discord shows typing for ten seconds unless a message comes first.
    typingTimer = setTimeout(() => ($('typing').textContent = ''), 10_000);
  });
  events.addEventListener('open', () => document.body.classList.add('live'));
  events.addEventListener('error', () => document.body.classList.remove('live'));
}

// --- writing and commands -----------------------------------------------------------------

async function submit() {
  const input = $('input');
  const text = input.value.trim();
  if (!text) return;
  showError('');
  try {
    if (text.startsWith('/')) await api(`/api/channel/channels/${state.current}/commands`, { method: 'POST', body: { line: text } });
    else await api(`/api/channel/channels/${state.current}/messages`, { method: 'POST', body: { content: text, ...(state.replyTo ? { replyTo: state.replyTo } : {}) } });
    input.value = '';
    clearReply();
    showHints([]);
  } catch (err) {
    showError(err.message);
  }
}

function showHints(items) {
  $('hints').replaceChildren(...items.map((item) => el('button', { type: 'button', class: 'hint', role: 'option', on: { click: item.pick } }, [el('b', {}, item.label), item.detail ? el('span', {}, ` — ${item.detail}`) : null])));
}

let autocompleteTimer;
/** "/config set" of "/config set key: value: [scope:]". */
const commandOf = (hint) => hint.usage.split(' ').filter((w) => !w.includes(':')).join(' ').toLowerCase();

function onType() {
  const line = $('input').value;
  if (!line.startsWith('/')) return showHints([]);
  const typed = line.trim().toLowerCase();
  if (!line.includes(':')) {
    // Still choosing the command: the ones it could be, each filled in with its required options.
    const possible = state.commands.filter((c) => commandOf(c).startsWith(typed) || typed.startsWith(`${commandOf(c)} `) || typed === commandOf(c));
    return showHints(possible.slice(0, 12).map((c) => ({
      label: c.usage,
      detail: c.description,
      pick: () => { $('input').value = c.usage.replace(/\[[^\]]*\]/g, '').replace(/\s+/g, ' ').trim(); $('input').focus(); onType(); },
    })));
  }
  // Writing its options: its usage, and the bot's choices for the option being typed.
  const current = state.commands.find((c) => typed.startsWith(`${commandOf(c)} `));
  clearTimeout(autocompleteTimer);
  autocompleteTimer = setTimeout(async () => {
    const { option, choices = [] } = await api(`/api/channel/channels/${state.current}/autocomplete`, { method: 'POST', body: { line } }).catch(() => ({}));
    if ($('input').value !== line) return;
    showHints([
      ...(current ? [{ label: current.usage, detail: current.description, pick: () => $('input').focus() }] : []),
      ...choices.map((ch) => ({ label: String(ch.value), detail: ch.name, pick: () => fillChoice(option, String(ch.value)) })),
    ]);
  }, 150);
}

function fillChoice(option, value) {
  const input = $('input');
  const at = input.value.toLowerCase().lastIndexOf(`${option}:`);
  if (at < 0) return;
  input.value = `${input.value.slice(0, at)}${option}:${value} `;
  input.focus();
  showHints([]);
}

// --- start --------------------------------------------------------------------------------

function renderBanner(s) {
  const parts = [];
  if (s.missingKeys.length) {
    parts.push(el('p', { class: 'missing-keys' }, [
      el('b', {}, 'Missing keys: '),
      s.missingKeys.map((m, i) => [i ? '; ' : '', el('code', {}, m.variable), ` (${m.personas.join(', ')})`]),
      '. Set them in .env and restart the playground; until then those personas answer with a notice.',
    ]));
  }
  const test = s.personas.find((p) => p.test);
  if (test) parts.push(el('p', {}, [el('b', {}, test.name), ' answers from a local echo host. It is not a language model: use it to try commands and protocols.']));
  for (const note of s.notes) parts.push(el('p', { class: 'note' }, note));
  $('banner').replaceChildren(...parts);
}

function renderPersonas(personas) {
  $('persona-list').replaceChildren(...personas.map((p) => el('li', { class: `persona${p.available ? '' : ' unavailable'}${p.test ? ' test' : ''}`, 'data-persona-id': p.id }, [
    el('img', { src: p.avatarUrl ?? avatarPath(p.name), alt: '', width: 32, height: 32, on: { error: (e) => { e.target.src = avatarPath(p.name); } } }),
    el('div', {}, [
      el('div', { class: 'persona-name' }, p.name),
      el('div', { class: 'persona-host' }, p.available
        ? p.hosts.filter((h) => h.usable).map((h) => `${h.label}${h.local ? ` (${h.local})` : ''}`)[0]
        : `no key: ${p.hosts.map((h) => h.key).filter(Boolean).join(' or ')}`),
    ]),
  ])));
}

async function start() {
  const s = await api('/api/channel/state');
  state.commands = s.commands;
  for (const c of s.channels) state.channels.set(c.id, c);
  renderBanner(s);
  renderPersonas(s.personas);
  follow();
  const wanted = location.hash.slice(1);
  await openChannel(state.channels.has(wanted) ? wanted : s.defaultChannelId);
  document.body.dataset.ready = 'true';
}

$('composer').addEventListener('submit', (e) => { e.preventDefault(); void submit(); });
$('input').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); void submit(); }
  if (e.key === 'Escape') { showHints([]); clearReply(); }
});
$('input').addEventListener('input', onType);
$('reply-cancel').addEventListener('click', clearReply);
start().catch((err) => showError(`The playground could not load: ${err.message}`));
