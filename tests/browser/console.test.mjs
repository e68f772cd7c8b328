// The web console in headless Chromium against a real node: the queue list
// shows a queue the CLI defined, with its depth and rates; one queue's
// detail puts, browses, gets and purges; the cluster tab shows both
// members of a 2-node cluster. Every wait is for a DOM condition.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Node, freePort, launch, until } from './harness.mjs';

let node;
let browser;

before(async () => {
  node = await Node.start({ qmgr: 'QMWEB' });
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  if (node) node.stop();
});

test('the queue list shows a queue defined with the CLI, its depth and rate', { timeout: 120000 }, async () => {
  const page = await browser.newPage();
  await page.goto(node.url + '/#/queues');
  await page.locator('#qmgr', { hasText: 'QMWEB' }).waitFor();
  const r = await node.cli('define-queue', 'WEB.LIST');
  assert.equal(r.code, 0, r.stderr);
  const row = page.locator('#queue-table tr[data-queue="WEB.LIST"]');
  await row.waitFor({ timeout: 5000 });
  for (let i = 0; i < 5; i++) assert.equal((await node.cli('put', 'WEB.LIST', `m${i}`)).code, 0);
  await row.locator('td.depth', { hasText: /^5$/ }).waitFor({ timeout: 5000 });
  // The put rate (computed between two polls) shows the five puts.
  await page.waitForFunction(() => {
    const cells = document.querySelectorAll('#queue-table tr[data-queue="WEB.LIST"] td');
    return cells.length > 5 && parseFloat(cells[5].textContent) > 0;
  }, null, { timeout: 6000 });
  await row.locator('svg.spark polygon.in').waitFor({ timeout: 5000 });
  // The filter hides other queues.
  await page.fill('#queue-filter', 'web.li');
  assert.equal(await page.locator('#queue-table tbody tr').count(), 1);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a queue defined in the console exists on the node', { timeout: 120000 }, async () => {
  const page = await browser.newPage();
  await page.goto(node.url + '/#/queues');
  await page.fill('#new-queue-name', 'WEB.ADDED');
  await page.selectOption('#new-queue-policy', 'drop-oldest');
  await page.click('#new-queue-add');
  await page.locator('#queue-table tr[data-queue="WEB.ADDED"]').waitFor({ timeout: 5000 });
  const q = await node.api('GET', 'queues/WEB.ADDED');
  assert.equal(q.status, 200);
  assert.equal(q.data.overflow_policy, 'drop-oldest');
  await page.close();
});

test('queue detail: put, browse, get and purge', { timeout: 120000 }, async () => {
  assert.equal((await node.cli('define-queue', 'WEB.DETAIL')).code, 0);
  const page = await browser.newPage();
  await page.goto(node.url + '/#/queues');
  await page.click('#queue-table tr[data-queue="WEB.DETAIL"] a');
  await page.locator('#q-name', { hasText: 'WEB.DETAIL' }).waitFor();
  await page.locator('#q-attrs tr[data-attr="max_depth"]').waitFor();

  for (const body of ['first from the browser', 'second from the browser']) {
    await page.fill('#put-body', body);
    await page.click('#put-send');
    await page.locator('#put-result.ok').waitFor();
  }
  await page.locator('#q-depth', { hasText: /^2$/ }).waitFor({ timeout: 5000 });
  const got = await node.cli('get', 'WEB.DETAIL', '--browse', '--all');
  assert.match(got.stdout, /first from the browser/);

  await page.click('#browse-go');
  await page.locator('#browse-table td.body-cell', { hasText: 'second from the browser' }).waitFor();
  assert.equal(await page.locator('#browse-table tbody tr[data-msg-id]').count(), 2);

  await page.click('#get-one');
  await page.locator('#browse-result', { hasText: 'got (and removed) 1 message' }).waitFor();
  await page.locator('#q-depth', { hasText: /^1$/ }).waitFor({ timeout: 5000 });

  await page.click('#purge'); // arms
  assert.equal((await node.api('GET', 'queues/WEB.DETAIL')).data.current_depth, 1);
  await page.click('#purge'); // purges
  await page.locator('#browse-result', { hasText: 'purged 1 message' }).waitFor();
  assert.equal((await node.api('GET', 'queues/WEB.DETAIL')).data.current_depth, 0);
  await page.locator('#q-depth', { hasText: /^0$/ }).waitFor({ timeout: 5000 });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the overview shows the node', { timeout: 120000 }, async () => {
  const page = await browser.newPage();
  await page.goto(node.url + '/');
  await page.locator('#qmgr', { hasText: 'QMWEB' }).waitFor();
  await page.locator('#ov-queues', { hasText: /^\d+$/ }).waitFor();
  const queues = Number(await page.textContent('#ov-queues'));
  assert.ok(queues >= 3, `queue count ${queues}`);
  await page.locator('#mem-text', { hasText: 'MiB' }).waitFor();
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the connections tab lists a STOMP client and closes it', { timeout: 120000 }, async () => {
  const sock = net.connect(node.stompPort, '127.0.0.1');
  let received = '';
  sock.on('data', (d) => { received += d; });
  const closed = new Promise((resolve) => sock.on('close', resolve));
  sock.write('CONNECT\naccept-version:1.2\nhost:x\n\n\0');
  await until(() => received.includes('CONNECTED'), 'the STOMP CONNECTED frame');
  const page = await browser.newPage();
  await page.goto(node.url + '/#/connections');
  const row = page.locator('#conn-table tr[data-protocol="stomp"]');
  await row.waitFor({ timeout: 5000 });
  assert.equal(await row.count(), 1);
  await row.locator('button', { hasText: 'Close' }).click();
  await closed;
  await row.waitFor({ state: 'detached', timeout: 5000 });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the cluster tab shows each member and its state', { timeout: 120000 }, async () => {
  const p1 = await freePort();
  const p2 = await freePort();
  const qm1 = await Node.start({ qmgr: 'QMA', clusterPort: p1 });
  let qm2 = await Node.start({ qmgr: 'QMB', clusterPort: p2, seeds: [`127.0.0.1:${p1}`] });
  try {
    const page = await browser.newPage();
    await page.goto(qm1.url + '/#/cluster');
    const member = (name, state) =>
      page.locator(`#member-table tr[data-member="${name}"] .badge`, { hasText: new RegExp(`^${state}$`) });
    await member('QMA', 'up').waitFor({ timeout: 15000 });
    await member('QMB', 'up').waitFor({ timeout: 15000 });
    qm2.stop();
    qm2 = null;
    await member('QMB', 'down').waitFor({ timeout: 15000 });
    assert.deepEqual(page.errors, []);
    await page.close();
  } finally {
    qm1.stop();
    if (qm2) qm2.stop();
  }
});
