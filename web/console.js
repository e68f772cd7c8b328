// The qmesh web console. Plain JavaScript, no build step: polls the node's
// admin API (docs/operations.md, "HTTP") every POLL_MS and renders the
// overview, queues (with rates computed from the counters' deltas), one
// queue's detail, the cluster, subscriptions and, where the node has the
// endpoint, client connections.
'use strict';

const POLL_MS = 1500;
const HISTORY = 60; // samples kept per rate series (90 s at 1.5 s)

// -- helpers ------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  return el;
}

const nf = new Intl.NumberFormat('en');
const num = (n) => (n === undefined || n === null ? '–' : nf.format(n));
function rate(r) {
  if (r === undefined || r === null) return '–';
  if (r >= 100) return nf.format(Math.round(r));
  return r.toFixed(1);
}
function bytes(n) {
  if (n === undefined || n === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
}
function duration(ms) {
  if (ms === undefined || ms === null) return '–';
  let sec = Math.floor(ms / 1000);
  const d = Math.floor(sec / 86400); sec -= d * 86400;
  const hr = Math.floor(sec / 3600); sec -= hr * 3600;
  const m = Math.floor(sec / 60); sec -= m * 60;
  if (d) return `${d}d ${hr}h`;
  if (hr) return `${hr}h ${m}m`;
  if (m) return `${m}m ${sec}s`;
  return `${sec}s`;
}
const ago = (ms) => (ms ? duration(Date.now() - ms) + ' ago' : '–');
const time = (ms) => (ms ? new Date(ms).toLocaleTimeString() : '–');

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch('/api/' + path, init);
  let data = null;
  try { data = await res.json(); } catch (e) { /* no JSON body */ }
  if (!res.ok) {
    const err = new Error((data && data.error) || `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return data;
}
const qpath = (name) => 'queues/' + encodeURIComponent(name);

function setResult(el, ok, text) {
  el.className = 'result ' + (ok ? 'ok' : 'err');
  el.textContent = text;
}

function fill(tbody, rows, cols, emptyText) {
  tbody.replaceChildren(...(rows.length ? rows
    : [h('tr', {}, h('td', { colspan: cols, class: 'empty' }, emptyText))]));
}

// -- rates --------------------------------------------------------------------

/** A counter's rate per second, and the last HISTORY rates. */
class RateSeries {
  constructor() { this.last = null; this.values = []; }
  push(t, counter) {
    if (this.last && t > this.last.t) {
      const r = Math.max(0, (counter - this.last.c) * 1000 / (t - this.last.t));
      this.values.push(r);
      if (this.values.length > HISTORY) this.values.shift();
    }
    this.last = { t, c: counter };
  }
  get now() { return this.values.length ? this.values[this.values.length - 1] : null; }
}

const state = {
  overview: null,
  queues: [],
  queueRates: new Map(), // name -> {in: RateSeries, out: RateSeries}
  nodeIn: new RateSeries(),
  nodeOut: new RateSeries(),
  depth: [],
  subs: [],
  connections: undefined, // undefined: not asked yet; null: the node has no /api/connections
  route: ['overview'],
};

function ratesOf(name) {
  let r = state.queueRates.get(name);
  if (!r) {
    r = { in: new RateSeries(), out: new RateSeries() };
    state.queueRates.set(name, r);
  }
  return r;
}

// -- charts -------------------------------------------------------------------

function sparkline(inValues, outValues, w = 150, hgt = 28) {
  const svg = s('svg', { class: 'spark', width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}` });
  svg.append(s('line', { class: 'base', x1: 0, x2: w, y1: hgt - 0.5, y2: hgt - 0.5 }));
  const max = Math.max(1, ...inValues, ...outValues);
  const pts = (vals) => vals.map((v, i) =>
    `${(w * (HISTORY - vals.length + i) / (HISTORY - 1)).toFixed(1)},${(hgt - 1 - (hgt - 3) * v / max).toFixed(1)}`);
  if (inValues.length > 1) {
    const p = pts(inValues);
    const x0 = p[0].split(',')[0];
    svg.append(s('polygon', { class: 'in', points: `${x0},${hgt} ${p.join(' ')} ${w},${hgt}` }));
  }
  if (outValues.length > 1) svg.append(s('polyline', { class: 'out', points: pts(outValues).join(' ') }));
  return svg;
}

function chart(svg, series, label) {
  const w = 600, hgt = 160, pad = 4;
  const max = Math.max(1, ...series.flatMap((x) => x.values));
  svg.replaceChildren();
  for (let i = 1; i < 4; i++)
    svg.append(s('line', { class: 'grid-line', x1: 0, x2: w, y1: hgt * i / 4, y2: hgt * i / 4 }));
  for (const { values, color, fill: area } of series) {
    if (values.length < 2) continue;
    const p = values.map((v, i) =>
      `${(w * (HISTORY - values.length + i) / (HISTORY - 1)).toFixed(1)},${(hgt - pad - (hgt - 2 * pad) * v / max).toFixed(1)}`);
    if (area) {
      const x0 = p[0].split(',')[0];
      svg.append(s('polygon', { points: `${x0},${hgt} ${p.join(' ')} ${w},${hgt}`, fill: area, stroke: 'none' }));
    }
    svg.append(s('polyline', { points: p.join(' '), fill: 'none', stroke: color, 'stroke-width': 2, 'vector-effect': 'non-scaling-stroke' }));
  }
  label.textContent = 'max ' + rate(max) + (series[0].unit || '');
}

// -- rendering ----------------------------------------------------------------

function renderHeader() {
  const st = state.overview.status;
  $('node-info').replaceChildren(
    h('span', {}, 'queue manager ', h('b', { id: 'qmgr' }, st.qmgr)),
    h('span', {}, 'version ', h('b', {}, st.version)),
    h('span', {}, 'up ', h('b', {}, duration(st.uptime_ms))));
  document.title = `${st.qmgr} · qmesh console`;
}

function renderOverview() {
  const { status: st, cluster: cl } = state.overview;
  let ready = 0, unacked = 0;
  for (const q of state.queues) { ready += q.current_depth; unacked += q.unacked_count; }
  $('ov-in').replaceChildren(rate(state.nodeIn.now), h('small', {}, ' /s'));
  $('ov-out').replaceChildren(rate(state.nodeOut.now), h('small', {}, ' /s'));
  $('ov-ready').textContent = num(ready);
  $('ov-unacked').textContent = num(unacked);
  $('ov-queues').textContent = num(st.queue_count);
  $('ov-conns').textContent = num(st.connection_count);
  $('ov-subs').textContent = num(st.subscription_count);
  const up = cl.members.filter((m) => m.state === 'up').length;
  $('ov-members').replaceChildren(cl.enabled ? `${up}` : '1', h('small', {}, cl.enabled ? ` of ${cl.members.length}` : ' standalone'));
  chart($('chart-rates'), [
    { values: state.nodeIn.values, color: 'var(--in)', fill: 'rgba(43,125,233,.12)', unit: ' /s' },
    { values: state.nodeOut.values, color: 'var(--out)' }], $('chart-max'));
  chart($('chart-depth'), [{ values: state.depth, color: 'var(--accent)', fill: 'rgba(13,138,143,.12)' }], $('depth-max'));

  const limit = st.memory_limit || 0;
  $('mem-text').textContent = `${bytes(st.memory_used)} of ${limit ? bytes(limit) : 'no limit'}`;
  $('mem-bar').className = 'bar' + (st.memory_alarm ? ' alarm' : '');
  $('mem-bar').firstElementChild.style.width = limit ? Math.min(100, 100 * st.memory_used / limit) + '%' : '0';
  $('mem-alarm').replaceChildren(st.memory_alarm ? h('span', { class: 'badge alarm' }, 'memory alarm') : h('span', { class: 'badge ok' }, 'ok'));
  $('disk-text').textContent = bytes(st.disk_free);
  $('disk-alarm').replaceChildren(st.disk_alarm ? h('span', { class: 'badge alarm' }, 'disk alarm') : h('span', { class: 'badge ok' }, 'ok'));
  const kv = (k, v) => h('tr', {}, h('td', {}, k), h('td', {}, v));
  $('store-kv').replaceChildren(
    kv('Journal size', bytes(st.journal_bytes)),
    kv('Journal segments', num(st.journal_segments)),
    kv('Persistent messages stored', num(st.journal_live_messages)),
    kv('Records per fsync', st.journal_records_per_fsync.toFixed(1)));
  $('node-kv').replaceChildren(
    kv('Queue manager', st.qmgr),
    kv('Version', st.version),
    kv('Uptime', duration(st.uptime_ms)),
    kv('Cluster', cl.enabled ? `on, listening on ${cl.listen}` : 'off'),
    kv('Open units of work', num(st.open_uow_count)),
    kv('Retained publications', num(st.retained_count)),
    kv('Paused puts', num(st.paused_puts)),
    kv('Held publications', num(st.held_publications)),
    kv('Put wait', st.put_wait_ms < 0 ? 'unlimited' : duration(st.put_wait_ms)));
}

function flags(q) {
  const out = [];
  if (q.cluster) out.push(h('span', { class: 'badge info' }, 'cluster'));
  if (q.default_persistence) out.push(h('span', { class: 'badge' }, 'persistent'));
  if (q.put_inhibited) out.push(h('span', { class: 'badge warn' }, 'put off'));
  if (q.get_inhibited) out.push(h('span', { class: 'badge warn' }, 'get off'));
  return out.flatMap((x, i) => (i ? [' ', x] : [x]));
}

function renderQueues() {
  const filter = $('queue-filter').value.trim().toLowerCase();
  const shown = state.queues.filter((q) => q.name.toLowerCase().includes(filter));
  $('queue-count').textContent = `${shown.length} of ${state.queues.length} queues`;
  const rows = shown.map((q) => {
    const r = ratesOf(q.name);
    return h('tr', { 'data-queue': q.name },
      h('td', {}, h('a', { href: '#/queues/' + encodeURIComponent(q.name) }, q.name)),
      h('td', {}, q.overflow_policy || ''),
      h('td', { class: 'num depth' }, num(q.current_depth)),
      h('td', { class: 'num' }, num(q.unacked_count)),
      h('td', { class: 'num' }, num(q.consumer_count)),
      h('td', { class: 'num' }, rate(r.in.now)),
      h('td', { class: 'num' }, rate(r.out.now)),
      h('td', {}, sparkline(r.in.values, r.out.values)),
      h('td', {}, flags(q)));
  });
  fill($('queue-table').tBodies[0], rows, 9, filter ? 'No queue matches.' : 'No queues.');
}

async function renderQueue(name) {
  $('q-name').textContent = name;
  $('q-name-crumb').textContent = name;
  let q;
  try {
    q = await api('GET', qpath(name));
  } catch (e) {
    $('q-attrs').tBodies[0].replaceChildren(h('tr', {}, h('td', { colspan: 2, class: 'empty' }, e.message)));
    return;
  }
  if (state.route[0] !== 'queue' || state.route[1] !== name) return;
  const r = ratesOf(q.name);
  $('q-depth').textContent = num(q.current_depth);
  $('q-unacked').textContent = num(q.unacked_count);
  $('q-consumers').textContent = num(q.consumer_count);
  $('q-in').replaceChildren(rate(r.in.now), h('small', {}, ' /s'));
  $('q-out').replaceChildren(rate(r.out.now), h('small', {}, ' /s'));
  $('q-attrs').tBodies[0].replaceChildren(...Object.entries(q).filter(([k]) => k !== 'name').map(([k, v]) =>
    h('tr', { 'data-attr': k }, h('td', {}, k.replaceAll('_', ' ')),
      h('td', { class: 'mono' }, typeof v === 'boolean' ? (v ? 'yes' : 'no') : (v === '' ? '–' : String(v))))));
}

function renderCluster() {
  const cl = state.overview.cluster;
  const members = cl.members.map((m) => h('tr', { 'data-member': m.name },
    h('td', {}, h('b', {}, m.name), m.name === cl.self ? h('span', { class: 'note' }, ' (this node)') : null),
    h('td', {}, h('span', { class: 'badge ' + m.state }, m.state)),
    h('td', { class: 'mono' }, m.address),
    h('td', {}, ago(m.since_ms)),
    h('td', { class: 'mono note' }, String(m.incarnation)),
    h('td', { class: 'num' }, m.version),
    h('td', {}, m.queues.join(', ') || '–'),
    h('td', { class: 'mono' }, m.filters.join(', ') || '–')));
  fill($('member-table').tBodies[0], members, 8,
    cl.enabled ? 'No members yet.' : 'This node runs alone (start it with --cluster-listen to form a cluster).');
  const channels = cl.channels.map((c) => h('tr', {},
    h('td', {}, c.remote), h('td', {}, h('span', { class: 'badge ' + (c.state === 'running' || c.state === 'idle' ? 'ok' : 'warn') }, c.state)),
    h('td', { class: 'num' }, num(c.backlog)), h('td', { class: 'num' }, num(c.in_flight)),
    h('td', { class: 'num' }, num(c.sent_total)), h('td', {}, ago(c.since_ms)),
    h('td', { class: 'note' }, c.last_error || '')));
  fill($('channel-table').tBodies[0], channels, 7, 'No channels: nothing was sent to another queue manager yet.');
}

function renderSubscriptions() {
  const rows = state.subs.map((x) => h('tr', {},
    h('td', {}, x.name || h('span', { class: 'note' }, `#${x.id}`)), h('td', { class: 'mono' }, x.filter),
    h('td', {}, h('a', { href: '#/queues/' + encodeURIComponent(x.queue) }, x.queue)),
    h('td', {}, x.durable ? 'yes' : 'no'), h('td', { class: 'num' }, num(x.delivered_total))));
  fill($('sub-table').tBodies[0], rows, 5, 'No subscriptions.');
}

function renderConnections() {
  const list = state.connections || [];
  const rows = list.map((c) => h('tr', { 'data-connection': c.id, 'data-protocol': c.protocol },
    h('td', { class: 'num' }, c.id), h('td', {}, h('span', { class: 'badge info' }, c.protocol)),
    h('td', { class: 'mono' }, c.peer), h('td', {}, c.user || h('span', { class: 'note' }, 'anonymous')),
    h('td', {}, ago(c.connected_at_ms)),
    h('td', {}, h('button', {
      class: 'danger', onclick: async (ev) => {
        ev.target.disabled = true;
        try { await api('DELETE', 'connections/' + encodeURIComponent(c.id)); } catch (e) { ev.target.title = e.message; }
        poll();
      },
    }, 'Close'))));
  fill($('conn-table').tBodies[0], rows, 6, 'No client connections.');
}

// -- polling ------------------------------------------------------------------

async function poll() {
  try {
    const [overview, queues] = await Promise.all([api('GET', 'overview'), api('GET', 'queues')]);
    const t = performance.now();
    state.overview = overview;
    state.queues = queues.sort((a, b) => a.name.localeCompare(b.name));
    let enq = 0, deq = 0, depth = 0;
    for (const q of queues) {
      const r = ratesOf(q.name);
      r.in.push(t, q.enqueued_total);
      r.out.push(t, q.dequeued_total);
      enq += q.enqueued_total; deq += q.dequeued_total; depth += q.current_depth;
    }
    for (const name of state.queueRates.keys())
      if (!queues.some((q) => q.name === name)) state.queueRates.delete(name);
    state.nodeIn.push(t, enq);
    state.nodeOut.push(t, deq);
    state.depth.push(depth);
    if (state.depth.length > HISTORY) state.depth.shift();
    const view = state.route[0];
    if (view === 'subscriptions') state.subs = await api('GET', 'subscriptions');
    if (view === 'connections' || state.connections === undefined) {
      try {
        state.connections = await api('GET', 'connections');
        $('tab-connections').hidden = false;
      } catch (e) {
        state.connections = null;
      }
    }
    $('banner').hidden = true;
    $('live-dot').className = 'dot ok';
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    render();
  } catch (e) {
    $('banner').hidden = false;
    $('banner').textContent = 'The node does not answer: ' + e.message;
    $('live-dot').className = 'dot bad';
  }
}

function render() {
  if (!state.overview) return;
  renderHeader();
  switch (state.route[0]) {
    case 'overview': renderOverview(); break;
    case 'queues': renderQueues(); break;
    case 'queue': renderQueue(state.route[1]); break;
    case 'cluster': renderCluster(); break;
    case 'subscriptions': renderSubscriptions(); break;
    case 'connections': renderConnections(); break;
  }
}

// -- routing ------------------------------------------------------------------

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  let r;
  if (parts[0] === 'queues' && parts[1]) r = ['queue', decodeURIComponent(parts.slice(1).join('/'))];
  else if (['overview', 'queues', 'cluster', 'subscriptions', 'connections'].includes(parts[0])) r = [parts[0]];
  else r = ['overview'];
  const changedQueue = r[0] === 'queue' && (state.route[0] !== 'queue' || state.route[1] !== r[1]);
  state.route = r;
  for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== 'view-' + r[0];
  const tab = r[0] === 'queue' ? 'queues' : r[0];
  for (const a of document.querySelectorAll('.tabs a[data-tab]')) a.classList.toggle('active', a.dataset.tab === tab);
  if (changedQueue) {
    $('browse-table').tBodies[0].replaceChildren(h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'Browse to see the messages (they stay on the queue).')));
    $('browse-result').textContent = '';
    $('put-result').textContent = '';
    disarmPurge();
  }
  if (r[0] === 'subscriptions' || r[0] === 'connections') poll();
  else render();
}

// -- queue actions --------------------------------------------------------------

const currentQueue = () => state.route[1];

function messageRow(m, i) {
  return h('tr', { 'data-msg-id': m.msg_id },
    h('td', { class: 'note' }, i + 1), h('td', {}, time(m.put_time)),
    h('td', { class: 'num' }, m.priority), h('td', {}, m.persistent ? 'yes' : 'no'),
    h('td', { class: 'num' }, m.delivery_count),
    h('td', { class: 'body-cell mono', title: m.body }, m.body));
}

async function browse() {
  const name = currentQueue();
  const n = Math.max(1, Math.min(1000, parseInt($('browse-count').value, 10) || 10));
  try {
    const msgs = await api('GET', `${qpath(name)}/messages?count=${n}`);
    fill($('browse-table').tBodies[0], msgs.map(messageRow), 6, 'The queue is empty.');
    setResult($('browse-result'), true, `${msgs.length} message${msgs.length === 1 ? '' : 's'} shown`);
  } catch (e) {
    setResult($('browse-result'), false, e.message);
  }
}

async function getOne() {
  try {
    const msgs = await api('POST', `${qpath(currentQueue())}/get`);
    fill($('browse-table').tBodies[0], msgs.map(messageRow), 6, 'The queue is empty.');
    setResult($('browse-result'), true, msgs.length ? 'got (and removed) 1 message' : 'no message to get');
  } catch (e) {
    setResult($('browse-result'), false, e.message);
  }
  poll();
}

async function put() {
  const body = { body: $('put-body').value, priority: parseInt($('put-priority').value, 10) };
  if ($('put-persistent').checked) body.persistent = true;
  try {
    const r = await api('POST', `${qpath(currentQueue())}/messages`, body);
    setResult($('put-result'), true, 'put ' + r.msg_id.slice(0, 12) + '…');
    $('put-body').value = '';
  } catch (e) {
    setResult($('put-result'), false, e.message);
  }
  poll();
}

let purgeTimer = null;
function disarmPurge() {
  clearTimeout(purgeTimer);
  $('purge').classList.remove('armed');
  $('purge').textContent = 'Purge';
}

async function purge() {
  const b = $('purge');
  if (!b.classList.contains('armed')) {
    b.classList.add('armed');
    b.textContent = 'Click again to purge';
    purgeTimer = setTimeout(disarmPurge, 4000);
    return;
  }
  disarmPurge();
  try {
    const r = await api('POST', `${qpath(currentQueue())}/purge`);
    setResult($('browse-result'), true, `purged ${r.purged} message${r.purged === 1 ? '' : 's'}`);
    fill($('browse-table').tBodies[0], [], 6, 'The queue is empty.');
  } catch (e) {
    setResult($('browse-result'), false, e.message);
  }
  poll();
}

async function addQueue() {
  const name = $('new-queue-name').value.trim();
  if (!name) return;
  try {
    await api('PUT', qpath(name), { overflow_policy: $('new-queue-policy').value });
    setResult($('new-queue-result'), true, `defined ${name}`);
    $('new-queue-name').value = '';
  } catch (e) {
    setResult($('new-queue-result'), false, e.message);
  }
  poll();
}

// -- start --------------------------------------------------------------------

for (let p = 0; p <= 9; p++) $('put-priority').append(h('option', { value: p, selected: p === 0 }, p));
$('put-send').addEventListener('click', put);
$('browse-go').addEventListener('click', browse);
$('get-one').addEventListener('click', getOne);
$('purge').addEventListener('click', purge);
$('new-queue-add').addEventListener('click', addQueue);
$('new-queue-name').addEventListener('keydown', (e) => { if (e.key === 'Enter') addQueue(); });
$('queue-filter').addEventListener('input', renderQueues);
window.addEventListener('hashchange', route);
route();
poll();
setInterval(poll, POLL_MS);
