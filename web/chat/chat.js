// The qmesh chat example: STOMP over WebSocket with @stomp/stompjs (served
// by the node under /vendor/), plus the admin API for the room's history.
//
// A room R (letters and digits) is:
// - topic `chat/R` (STOMP `/topic/chat/R`): the messages, JSON
//   {"id","from","text","ts"};
// - topic `chat/R/presence`: {"type":"join"|"here"|"leave","client","name"};
//   each page says `join` when it enters, `here` every PRESENCE_MS and in
//   answer to another's join, `leave` when it goes; a member not heard for
//   PRESENCE_EXPIRY_MS is dropped from the list;
// - queue `CHAT.HISTORY.R` on the node the page talks to: max_depth 50,
//   overflow_policy drop-oldest, fed by the durable subscription of the
//   same name to `chat/R`. A joining page defines both (idempotent) and
//   browses the queue: the last 50 messages. In a cluster every node has
//   its own history queue and publications reach every node with a
//   subscriber.
'use strict';

const HISTORY_DEPTH = 50;
const PRESENCE_MS = 5000;
const PRESENCE_EXPIRY_MS = 15000;
const ROOM_RULE = /^[A-Za-z0-9]{1,32}$/;

const $ = (id) => document.getElementById(id);
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const randomId = () => Array.from(crypto.getRandomValues(new Uint8Array(9)), (b) => b.toString(16).padStart(2, '0')).join('');
function colour(name) {
  let x = 2166136261; // FNV-1a
  for (const c of name) x = Math.imul(x ^ c.codePointAt(0), 16777619) >>> 0;
  return `hsl(${x % 360} 55% 42%)`;
}
const avatar = (name) => h('span', { class: 'avatar', style: `background:${colour(name)}` }, name.slice(0, 1));
const clock = (ts) => new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

const chat = {
  client: null,
  clientId: randomId(),
  name: '',
  room: '',
  seen: new Set(), // message ids shown
  people: new Map(), // client id -> {name, last}
  timers: [],
  auth: null, // {login, passcode} when the node has users
};

const topic = () => `/topic/chat/${chat.room}`;
const presenceTopic = () => `/topic/chat/${chat.room}/presence`;
const historyQueue = () => `CHAT.HISTORY.${chat.room}`;

// -- messages -----------------------------------------------------------------

function atBottom() {
  const m = $('messages');
  return m.scrollHeight - m.scrollTop - m.clientHeight < 40;
}

function show(msg, { history = false } = {}) {
  if (!msg || typeof msg.id !== 'string' || chat.seen.has(msg.id)) return;
  if (typeof msg.from !== 'string' || typeof msg.text !== 'string') return;
  chat.seen.add(msg.id);
  const stick = atBottom();
  const el = h('div', { class: 'msg' + (msg.from === chat.name ? ' mine' : '') + (history ? ' history' : ''), 'data-id': msg.id, 'data-ts': msg.ts },
    avatar(msg.from),
    h('div', {}, h('div', { class: 'meta' }, h('span', { class: 'from' }, msg.from), clock(msg.ts)), h('div', { class: 'text' }, msg.text)));
  // Keep the list in time order (history and live messages may interleave).
  const list = $('messages');
  let before = null;
  for (let n = list.lastElementChild; n; n = n.previousElementSibling) {
    if (!n.dataset.ts || Number(n.dataset.ts) <= msg.ts) break;
    before = n;
  }
  list.insertBefore(el, before);
  if (stick || msg.from === chat.name) list.scrollTop = list.scrollHeight;
}

function notice(text) {
  const list = $('messages');
  const stick = atBottom();
  list.append(h('div', { class: 'event', 'data-ts': Date.now() }, text));
  if (stick) list.scrollTop = list.scrollHeight;
}

function parse(body) {
  try { return JSON.parse(body); } catch (e) { return null; }
}

// -- presence -----------------------------------------------------------------

function renderPeople() {
  const now = Date.now();
  for (const [id, p] of chat.people)
    if (id !== chat.clientId && now - p.last > PRESENCE_EXPIRY_MS) {
      chat.people.delete(id);
      notice(`${p.name} left (not heard for ${PRESENCE_EXPIRY_MS / 1000} s)`);
    }
  const list = [...chat.people.entries()].sort((a, b) => a[1].name.localeCompare(b[1].name));
  $('people').replaceChildren(...list.map(([id, p]) => h('li', { 'data-name': p.name, 'data-client': id },
    avatar(p.name), p.name, id === chat.clientId ? h('span', { class: 'note' }, 'you') : h('span', { class: 'online' }))));
  $('people-count').textContent = String(list.length);
}

function presence(type) {
  if (!chat.client || !chat.client.connected) return;
  chat.client.publish({
    destination: presenceTopic(),
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type, client: chat.clientId, name: chat.name, ts: Date.now() }),
  });
}

function onPresence(frame) {
  const p = parse(frame.body);
  if (!p || typeof p.client !== 'string' || typeof p.name !== 'string') return;
  if (p.client === chat.clientId) return;
  if (p.type === 'leave') {
    if (chat.people.delete(p.client)) notice(`${p.name} left`);
  } else {
    const known = chat.people.has(p.client);
    chat.people.set(p.client, { name: p.name.slice(0, 24), last: Date.now() });
    if (!known && p.type === 'join') notice(`${p.name} joined`);
    if (p.type === 'join') presence('here'); // so the newcomer sees us at once
  }
  renderPeople();
}

// -- history (admin API) --------------------------------------------------------

/** HTTP Basic credentials of the signed-in user (UTF-8), or none. */
function authorization() {
  if (!chat.auth) return {};
  const bytes = new TextEncoder().encode(`${chat.auth.login}:${chat.auth.passcode}`);
  return { Authorization: 'Basic ' + btoa(String.fromCharCode(...bytes)) };
}

async function api(method, path, body) {
  // X-Requested-With: a 401 comes without the Basic challenge, so the
  // browser shows no login prompt of its own (the join form asks).
  const headers = { 'X-Requested-With': 'qmesh-chat', ...authorization() };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch('/api/' + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => null);
  return { ok: res.ok, status: res.status, data };
}

/** Makes sure the room's history queue and its durable subscription exist. */
async function ensureHistory() {
  const q = encodeURIComponent(historyQueue());
  const def = await api('PUT', `queues/${q}`, {
    max_depth: HISTORY_DEPTH, overflow_policy: 'drop-oldest',
    description: `chat history of room ${chat.room}`,
  });
  if (!def.ok && def.status !== 409) throw new Error(def.data ? def.data.error : `HTTP ${def.status}`);
  const sub = await api('POST', 'subscriptions', { filter: `chat/${chat.room}`, durable: historyQueue(), queue: historyQueue() });
  if (!sub.ok && sub.status !== 409) throw new Error(sub.data ? sub.data.error : `HTTP ${sub.status}`);
}

async function loadHistory() {
  const r = await api('GET', `queues/${encodeURIComponent(historyQueue())}/messages?count=${HISTORY_DEPTH}`);
  if (!r.ok) throw new Error(r.data ? r.data.error : `HTTP ${r.status}`);
  const msgs = r.data.map((m) => parse(m.body)).filter(Boolean);
  for (const m of msgs) show(m, { history: true });
  return msgs.length;
}

// -- connection -------------------------------------------------------------------

function setState(ok, text) {
  $('live-dot').className = 'dot ' + (ok ? 'ok' : 'bad');
  $('conn-state').textContent = text;
}

async function onConnect() {
  setState(true, 'connected');
  const c = chat.client;
  c.subscribe(topic(), (f) => show(parse(f.body)));
  // Wait until both subscriptions are in place before reading the history:
  // what is published from then on arrives live, what came before is in
  // the history queue, and ids drop what is in both.
  const receipt = 'sub-' + randomId();
  const subscribed = new Promise((resolve) => c.watchForReceipt(receipt, resolve));
  c.subscribe(presenceTopic(), onPresence, { receipt });
  await subscribed;
  chat.people.set(chat.clientId, { name: chat.name, last: Date.now() });
  renderPeople();
  presence('join');
  try {
    await ensureHistory();
    const n = await loadHistory();
    $('history-note').textContent = `history: the last ${HISTORY_DEPTH} messages are kept on this node (${n} there when you joined)`;
    $('messages').dataset.history = 'loaded';
  } catch (e) {
    $('history-note').textContent = 'no history: ' + e.message;
    $('messages').dataset.history = 'failed';
  }
}

async function join(name, room, auth) {
  chat.auth = auth;
  // A node with users answers 401 without (valid) credentials: say so on
  // the join form instead of joining (and reconnecting) in vain.
  const overview = await api('GET', 'overview');
  if (overview.status === 401) {
    $('join-error').textContent = auth
      ? 'wrong user or password (or not allowed here)'
      : 'this node has users: sign in with a user and password';
    return;
  }
  chat.name = name;
  chat.room = room;
  localStorage.setItem('qmesh.chat.name', name);
  history.replaceState(null, '', `?room=${encodeURIComponent(room)}`);
  document.title = `#${room} · qmesh chat`;
  $('room-name').textContent = room;
  $('join-view').hidden = true;
  $('chat-view').hidden = false;
  $('text').focus();
  if (overview.ok) $('node-info').replaceChildren(h('span', {}, 'queue manager ', h('b', { id: 'qmgr' }, overview.data.status.qmgr)));
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  chat.client = new StompJs.Client({
    brokerURL: `${scheme}://${location.host}/ws`,
    connectHeaders: auth ? { host: location.hostname, ...auth } : { host: location.hostname },
    reconnectDelay: 2000,
    heartbeatIncoming: 10000,
    heartbeatOutgoing: 10000,
  });
  chat.client.onConnect = onConnect;
  chat.client.onWebSocketClose = () => setState(false, 'reconnecting…');
  chat.client.onStompError = (f) => {
    setState(false, 'error: ' + (f.headers.message || 'STOMP error'));
    // Refused (2035): trying again with the same credentials cannot help.
    if ((f.headers.message || '').startsWith('2035')) chat.client.deactivate();
  };
  chat.client.activate();
  chat.timers.push(setInterval(() => presence('here'), PRESENCE_MS));
  chat.timers.push(setInterval(renderPeople, 1000));
}

function send(text) {
  if (!text.trim() || !chat.client || !chat.client.connected) return false;
  const msg = { id: randomId(), from: chat.name, text, ts: Date.now() };
  chat.client.publish({ destination: topic(), headers: { 'content-type': 'application/json' }, body: JSON.stringify(msg) });
  show(msg);
  return true;
}

async function leave() {
  presence('leave');
  for (const t of chat.timers) clearInterval(t);
  chat.timers = [];
  if (chat.client) await chat.client.deactivate();
  chat.client = null;
}

// -- start ------------------------------------------------------------------------

const params = new URLSearchParams(location.search);
$('name').value = params.get('name') || localStorage.getItem('qmesh.chat.name') || '';
if (params.get('room')) $('room').value = params.get('room');
$('user').value = localStorage.getItem('qmesh.chat.user') || '';

$('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const name = $('name').value.trim();
  const room = $('room').value.trim();
  if (!name) return;
  if (!ROOM_RULE.test(room)) {
    $('join-error').textContent = 'a room name is 1-32 letters and digits';
    return;
  }
  const login = $('user').value.trim();
  // The password stays in this page's memory only; the user name is kept.
  if (login) localStorage.setItem('qmesh.chat.user', login);
  join(name, room, login ? { login, passcode: $('password').value } : null);
});
$('send-form').addEventListener('submit', (e) => {
  e.preventDefault();
  if (send($('text').value)) $('text').value = '';
});
$('leave').addEventListener('click', async () => {
  await leave();
  location.href = location.pathname + '?room=' + encodeURIComponent(chat.room);
});
window.addEventListener('pagehide', () => presence('leave'));
