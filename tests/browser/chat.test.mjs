// The chat example in headless Chromium against real nodes: two pages in a
// room see each other and each other's messages at once; a page joining
// later gets the room's last 50 messages from the node's drop-oldest history
// queue; across a 2-node cluster, pages on different nodes talk and each
// node keeps its own history. Every wait is for a DOM condition.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Node, NODE, freePort, launch, until } from './harness.mjs';

let browser;
const nodes = [];


before(async () => {
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  for (const n of nodes) n.stop();
});

async function start(opts) {
  const n = await Node.start(opts);
  nodes.push(n);
  return n;
}

/** Opens the chat on `node` and joins `room` as `name` (signed in as `user`). */
async function join(node, name, room, user = null) {
  const page = await browser.newPage();
  await page.goto(`${node.url}/chat/?room=${room}`);
  await page.fill('#name', name);
  if (user) {
    await page.fill('#user', user.login);
    await page.fill('#password', user.passcode);
  }
  await page.click('#join');
  await page.locator('#conn-state', { hasText: 'connected' }).waitFor({ timeout: 10000 });
  await page.locator('#messages[data-history="loaded"]').waitFor({ timeout: 10000 });
  return page;
}

const person = (page, name) => page.locator(`#people li[data-name="${name}"]`);
const message = (page, text) => page.locator('#messages .msg .text', { hasText: new RegExp(`^${text}$`) });

async function say(page, text) {
  await page.fill('#text', text);
  await page.click('#send');
  await message(page, text).waitFor({ timeout: 2000 });
}

test('two pages in a room see each other and each message at once', { timeout: 120000 }, async () => {
  const node = await start({ qmgr: 'QMCHAT' });
  const ada = await join(node, 'ada', 'room1');
  const bob = await join(node, 'bob', 'room1');
  await person(ada, 'bob').waitFor({ timeout: 5000 });
  await person(bob, 'ada').waitFor({ timeout: 5000 });
  await say(ada, 'hello bob');
  await message(bob, 'hello bob').waitFor({ timeout: 1000 });
  await say(bob, 'hi ada');
  await message(ada, 'hi ada').waitFor({ timeout: 1000 });
  // Each message once, though it came back on the topic too.
  assert.equal(await message(ada, 'hello bob').count(), 1);
  // A page in another room sees none of it.
  const eve = await join(node, 'eve', 'room2');
  await say(ada, 'only room1');
  await message(bob, 'only room1').waitFor({ timeout: 1000 });
  assert.equal(await message(eve, 'only room1').count(), 0);
  assert.equal(await person(eve, 'ada').count(), 0);
  // Leaving shows at once.
  await bob.click('#leave');
  await person(ada, 'bob').waitFor({ state: 'detached', timeout: 5000 });
  for (const p of [ada, bob, eve]) {
    assert.deepEqual(p.errors, []);
    await p.close();
  }
});

test('a member not heard from for 15 s leaves the list', { timeout: 120000 }, async () => {
  const node = await start({ qmgr: 'QMGONE' });
  const ada = await join(node, 'ada', 'expiry');
  // A member whose page vanished without saying `leave`: one `here`, then
  // silence.
  await ada.evaluate(() => chat.client.publish({
    destination: '/topic/chat/expiry/presence',
    body: JSON.stringify({ type: 'here', client: 'ghost-client', name: 'ghost', ts: Date.now() }),
  }));
  await person(ada, 'ghost').waitFor({ timeout: 2000 });
  const seen = Date.now();
  await person(ada, 'ghost').waitFor({ state: 'detached', timeout: 20000 });
  assert.ok(Date.now() - seen >= 13000, `dropped after ${Date.now() - seen} ms`);
  await ada.locator('#messages .event', { hasText: 'ghost left (not heard for 15 s)' }).waitFor();
  assert.deepEqual(ada.errors, []);
  await ada.close();
});

test('a page joining later sees the last 50 messages of the room', { timeout: 120000 }, async () => {
  const node = await start({ qmgr: 'QMHIST' });
  const ada = await join(node, 'ada', 'history');
  // 55 messages: the history queue keeps the last 50 (drop-oldest).
  await ada.evaluate(() => {
    for (let i = 1; i <= 55; i++) {
      document.getElementById('text').value = `line ${i}`;
      document.getElementById('send').click();
    }
  });
  await until(async () => (await node.api('GET', 'queues/CHAT.HISTORY.history')).data?.enqueued_total >= 55,
    'the history queue to take 55 messages');
  const q = (await node.api('GET', 'queues/CHAT.HISTORY.history')).data;
  assert.equal(q.overflow_policy, 'drop-oldest');
  assert.equal(q.max_depth, 50);
  assert.equal(q.current_depth, 50);
  const subs = (await node.api('GET', 'subscriptions')).data;
  assert.ok(subs.some((s) => s.name === 'CHAT.HISTORY.history' && s.filter === 'chat/history' && s.durable), JSON.stringify(subs));

  const cat = await join(node, 'cat', 'history');
  await message(cat, 'line 55').waitFor({ timeout: 5000 });
  await message(cat, 'line 6').waitFor({ timeout: 5000 });
  assert.equal(await cat.locator('#messages .msg.history').count(), 50);
  assert.equal(await message(cat, 'line 5').count(), 0);
  // In order.
  const texts = await cat.locator('#messages .msg .text').allTextContents();
  assert.deepEqual(texts.slice(0, 3), ['line 6', 'line 7', 'line 8']);
  // A second visitor again: the history is still there (browsed, not got).
  const dan = await join(node, 'dan', 'history');
  await message(dan, 'line 55').waitFor({ timeout: 5000 });
  for (const p of [ada, cat, dan]) {
    assert.deepEqual(p.errors, []);
    await p.close();
  }
});

test('pages on two nodes of a cluster talk, and each node keeps the history', { timeout: 120000 }, async () => {
  const p1 = await freePort();
  const p2 = await freePort();
  const qm1 = await start({ qmgr: 'QMC1', clusterPort: p1 });
  const qm2 = await start({ qmgr: 'QMC2', clusterPort: p2, seeds: [`127.0.0.1:${p1}`] });
  await until(async () => {
    const c = (await qm1.api('GET', 'cluster')).data;
    return c && c.members.filter((m) => m.state === 'up').length === 2;
  }, 'both members up');
  const ada = await join(qm1, 'ada', 'xnode');
  const bob = await join(qm2, 'bob', 'xnode');
  assert.equal(await ada.textContent('#qmgr'), 'QMC1');
  assert.equal(await bob.textContent('#qmgr'), 'QMC2');
  await person(ada, 'bob').waitFor({ timeout: 10000 });
  await person(bob, 'ada').waitFor({ timeout: 10000 });
  // Both nodes know the other's room subscriptions (presence crossed, the
  // room topic is subscribed at the same time; wait for it explicitly).
  for (const [node, other] of [[qm1, 'QMC2'], [qm2, 'QMC1']])
    await until(async () => {
      const c = (await node.api('GET', 'cluster')).data;
      const m = c && c.members.find((x) => x.name === other);
      return m && m.filters.includes('chat/xnode');
    }, `${other}'s chat/xnode filter on the other node`);
  await say(ada, 'from node one');
  await message(bob, 'from node one').waitFor({ timeout: 1000 });
  await say(bob, 'from node two');
  await message(ada, 'from node two').waitFor({ timeout: 1000 });
  // Each node's own history queue has both messages.
  for (const node of [qm1, qm2])
    await until(async () => (await node.api('GET', 'queues/CHAT.HISTORY.xnode')).data?.current_depth === 2,
      'both messages in each node\'s history');
  const cat = await join(qm2, 'cat', 'xnode');
  await message(cat, 'from node one').waitFor({ timeout: 5000 });
  await message(cat, 'from node two').waitFor({ timeout: 5000 });
  for (const p of [ada, bob, cat]) {
    assert.deepEqual(p.errors, []);
    await p.close();
  }
});

test('on a node with users the chat signs in; no or wrong credentials are refused on the form', { timeout: 120000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qmesh-chat-users-'));
  try {
    const hash = (pw) => execFileSync(NODE, ['--hash-password'], { input: pw + '\n' }).toString().trim();
    const users = path.join(dir, 'users.ini');
    fs.writeFileSync(users, `[user ada]\npassword = ${hash('ada-pw')}\nadmin = CHAT.HISTORY.*\n`
      + 'put = chat/#\nget = chat/#, CHAT.HISTORY.*\n'
      + `[user root]\npassword = ${hash('root-pw')}\nadmin = *\n`);
    const node = await start({ qmgr: 'QMAUTH', args: ['--users-file', users] });
    // Without credentials, and with a wrong password: the form says so.
    const anon = await browser.newPage();
    await anon.goto(`${node.url}/chat/?room=locked`);
    await anon.fill('#name', 'anon');
    await anon.click('#join');
    await anon.locator('#join-error', { hasText: 'sign in' }).waitFor({ timeout: 10000 });
    assert.equal(await anon.isHidden('#chat-view'), true);
    await anon.fill('#user', 'ada');
    await anon.fill('#password', 'not-her-password');
    await anon.click('#join');
    await anon.locator('#join-error', { hasText: 'wrong user or password' }).waitFor({ timeout: 15000 });
    assert.equal(await anon.isHidden('#chat-view'), true);
    // With her password: connected over STOMP (login/passcode) and the
    // history read through the API (HTTP Basic).
    const ada = await join(node, 'ada', 'locked', { login: 'ada', passcode: 'ada-pw' });
    await ada.locator('#conn-state', { hasText: /^connected$/ }).waitFor({ timeout: 10000 });
    await say(ada, 'signed in');
    // The node knows her WebSocket session as ada (seen by an admin).
    const conns = await fetch(`${node.url}/api/connections`, {
      headers: { Authorization: 'Basic ' + Buffer.from('root:root-pw').toString('base64') } });
    assert.equal(conns.status, 200);
    const list = await conns.json();
    assert.ok(list.some((c) => c.protocol === 'ws' && c.user === 'ada'), JSON.stringify(list));
    for (const p of [anon, ada]) {
      assert.deepEqual(p.errors, []);
      await p.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
