// Helpers for the browser tests: real qmesh-node processes on free loopback
// ports (as tests/integration/harness.py starts them), always killed, and
// Debian's headless Chromium driven by playwright-core (never a downloaded
// browser).
//
// Environment (set by ctest): QMESH_NODE, QMESH_CLI, QMESH_SOURCE_DIR;
// QMESH_CHROMIUM (default /usr/bin/chromium).
import { spawn, execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

export const SOURCE_DIR = process.env.QMESH_SOURCE_DIR
  || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const NODE = process.env.QMESH_NODE || path.join(SOURCE_DIR, 'build/qmesh-node');
export const CLI = process.env.QMESH_CLI || path.join(SOURCE_DIR, 'build/qmesh');
export const CHROMIUM = process.env.QMESH_CHROMIUM || '/usr/bin/chromium';

// playwright-core is a devDependency of web/ (installed by `make build`).
const require = createRequire(path.join(SOURCE_DIR, 'web', 'package.json'));
const { chromium } = require('playwright-core');

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const running = new Set();
process.on('exit', () => {
  for (const proc of running) {
    try { proc.kill('SIGKILL'); } catch (e) { /* gone */ }
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(1));
}

/** One qmesh-node; `stop()` kills it and removes its directory. */
export class Node {
  static async start({ qmgr = 'QM1', clusterPort = null, seeds = [], args = [] } = {}) {
    const n = new Node();
    n.qmgr = qmgr;
    n.port = await freePort();
    n.stompPort = await freePort();
    n.httpPort = await freePort();
    n.clusterPort = clusterPort;
    n.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qmesh-browser-'));
    const cmd = ['--qmgr', qmgr, '--listen', `127.0.0.1:${n.port}`,
      '--stomp-listen', `127.0.0.1:${n.stompPort}`,
      '--http-listen', `127.0.0.1:${n.httpPort}`,
      '--data-dir', path.join(n.dir, 'data'),
      '--log-file', path.join(n.dir, 'node.log')];
    if (clusterPort) {
      cmd.push('--cluster-listen', `127.0.0.1:${clusterPort}`,
        '--cluster-heartbeat', '250', '--cluster-timeout', '3000');
      if (seeds.length) cmd.push('--seeds', seeds.join(','));
    }
    cmd.push(...args);
    n.proc = spawn(NODE, cmd, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(n.proc);
    let stderr = '';
    n.proc.stderr.on('data', (d) => { stderr += d; });
    const lines = readline.createInterface({ input: n.proc.stdout });
    const first = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), 30000);
      lines.once('line', (line) => { clearTimeout(timer); resolve(line); });
      n.proc.once('exit', () => { clearTimeout(timer); resolve(null); });
    });
    if (!first || !first.includes('listening on')) {
      n.stop();
      throw new Error(`node did not start: ${first} ${stderr}`);
    }
    return n;
  }

  get url() { return `http://127.0.0.1:${this.httpPort}`; }
  get address() { return `127.0.0.1:${this.port}`; }
  get clusterAddress() { return `127.0.0.1:${this.clusterPort}`; }

  /** Runs the qmesh CLI against this node; resolves {code, stdout, stderr}. */
  cli(...args) {
    return new Promise((resolve) => {
      execFile(CLI, ['--node', this.address, ...args], { timeout: 60000 },
        (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
    });
  }

  /** The node's admin API: JSON of a GET (or another method with a body). */
  async api(method, p, body) {
    const res = await fetch(this.url + '/api/' + p, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await res.json().catch(() => null);
    return { status: res.status, data };
  }

  log() {
    try { return fs.readFileSync(path.join(this.dir, 'node.log'), 'utf8'); } catch (e) { return ''; }
  }

  stop() {
    if (this.proc && this.proc.exitCode === null) this.proc.kill('SIGKILL');
    running.delete(this.proc);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls `fn` (async) until it returns a truthy value; throws at the deadline. */
export async function until(fn, what, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Headless Chromium; pages record their script errors in `page.errors`. */
export async function launch() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
    timeout: 60000,
  });
  // Pages of one browser context per viewport: disposing a context while
  // one of its pages navigates can leave Chromium without an answer, so
  // contexts live as long as the browser, and a page's close() gives up
  // waiting after 5 s (the browser's close ends everything).
  const contexts = new Map();
  browser.newPage = async (opts = {}) => {
    const options = { viewport: { width: 1280, height: 800 }, ...opts };
    const key = JSON.stringify(options);
    if (!contexts.has(key)) contexts.set(key, await browser.newContext(options));
    const page = await contexts.get(key).newPage();
    page.errors = [];
    page.on('pageerror', (e) => page.errors.push(e.message));
    const close = page.close.bind(page);
    page.close = () => Promise.race([close(), new Promise((r) => setTimeout(r, 5000))]);
    return page;
  };
  const closeBrowser = browser.close.bind(browser);
  browser.close = () => Promise.race([closeBrowser(), new Promise((r) => setTimeout(r, 10000))]);
  return browser;
}
