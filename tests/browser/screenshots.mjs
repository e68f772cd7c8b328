// `make screenshots`: starts a node, gives it a few queues with traffic and
// a chat room with a conversation, and writes docs/img/console.png,
// docs/img/console-queues.png and docs/img/chat.png with headless Chromium.
import path from 'node:path';
import fs from 'node:fs';
import { Node, SOURCE_DIR, launch } from './harness.mjs';

const OUT = path.join(SOURCE_DIR, 'docs', 'img');
fs.mkdirSync(OUT, { recursive: true });

const node = await Node.start({ qmgr: 'QM1' });
const browser = await launch();
let traffic = true;

async function api(method, p, body) {
  const r = await node.api(method, p, body);
  if (r.status >= 300 && r.status !== 409) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(r.data)}`);
  return r.data;
}

/** Puts `perSecond` messages a second on `queue` (and gets `getsPerSecond`) until stopped. */
async function load(queue, perSecond, getsPerSecond = 0) {
  let i = 0;
  while (traffic) {
    const t = Date.now();
    const wave = 1 + 0.6 * Math.sin(t / 2500 + queue.length);
    const n = Math.max(1, Math.round(perSecond * wave / 4));
    await Promise.all(Array.from({ length: n }, () =>
      api('POST', `queues/${queue}/messages`, { body: JSON.stringify({ order: ++i, at: new Date().toISOString() }), content_type: 'application/json' })));
    const g = Math.round(getsPerSecond * wave / 4);
    if (g) await api('POST', `queues/${queue}/get?count=${g}`);
    await new Promise((r) => setTimeout(r, Math.max(0, 250 - (Date.now() - t))));
  }
}

try {
  await api('PUT', 'queues/ORDERS', { description: 'incoming orders', max_depth: 100000 });
  await api('PUT', 'queues/PAYMENTS', { description: 'payment requests', default_persistence: true });
  await api('PUT', 'queues/INVOICES', { description: 'invoices to print' });
  await api('PUT', 'queues/EVENTS', { overflow_policy: 'drop-oldest', max_depth: 1000, cluster: true });
  await api('PUT', 'queues/AUDIT', { overflow_policy: 'reject', max_depth: 5000 });
  for (let i = 0; i < 12; i++) await api('POST', 'queues/INVOICES/messages', { body: `invoice ${1000 + i}` });
  const loads = [load('ORDERS', 40, 32), load('PAYMENTS', 16, 16), load('EVENTS', 24, 0), load('AUDIT', 6, 2)];

  const page = await browser.newPage({ viewport: { width: 1360, height: 860 }, deviceScaleFactor: 1 });
  await page.goto(node.url + '/');
  // Let the charts fill: 40 polls (a minute).
  await page.waitForFunction(() => {
    const l = document.querySelector('#chart-rates polyline');
    return l && l.getAttribute('points').split(' ').length >= 40;
  }, null, { timeout: 90000, polling: 500 });
  await page.screenshot({ path: path.join(OUT, 'console.png') });
  await page.goto(node.url + '/#/queues');
  await page.waitForFunction(() => document.querySelectorAll('#queue-table polygon.in').length >= 3, null, { timeout: 20000 });
  await page.screenshot({ path: path.join(OUT, 'console-queues.png') });
  traffic = false;
  await Promise.all(loads);

  // The chat: three people in #lobby.
  const join = async (name) => {
    const p = await browser.newPage({ viewport: { width: 1100, height: 640 }, deviceScaleFactor: 1 });
    await p.goto(node.url + '/chat/?room=lobby');
    await p.fill('#name', name);
    await p.click('#join');
    await p.locator('#messages[data-history="loaded"]').waitFor({ timeout: 10000 });
    return p;
  };
  const ada = await join('ada');
  const lines = [
    ['ada', 'Morning! Is the new cluster up?'],
    ['bob', 'Yes: QM1 and QM2 joined at 08:02, both healthy.'],
    ['ada', 'Great. I moved ORDERS to a cluster queue, puts now balance across both nodes.'],
    ['cy', 'Nice, the console shows about 40 puts/s on ORDERS.'],
    ['bob', 'And the chat history survives: reload the page and the last 50 lines are still there.'],
  ];
  const bob = await join('bob');
  const cy = await join('cy');
  const pages = { ada, bob, cy };
  await bob.locator('#people li[data-name="cy"]').waitFor();
  for (const [who, text] of lines) {
    await pages[who].fill('#text', text);
    await pages[who].click('#send');
    await bob.locator('#messages .msg .text', { hasText: text }).waitFor();
  }
  await bob.fill('#text', 'Let me check the queue depths…');
  await bob.screenshot({ path: path.join(OUT, 'chat.png') });
  console.log(`screenshots in ${OUT}`);
} finally {
  traffic = false;
  await browser.close();
  node.stop();
}
