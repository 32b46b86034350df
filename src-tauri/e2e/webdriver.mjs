// A small W3C WebDriver client for the desktop app: tauri-driver in front of Debian's
// WebKitWebDriver, which starts the real app binary and drives its window. Only what the
// tests use: navigation state, scripts in the page, clicks, typing, screenshots.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { tree } from './processes.mjs';
import { screenshotDisplay } from './xshot.mjs';

/** Whether `pid` runs (a zombie does not). */
function alive(pid) {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Whether `pid` is WebKitWebDriver (started by tauri-driver, beside the app). */
function isDriver(pid) {
  try {
    return readlinkSync(`/proc/${pid}/exe`).endsWith('/WebKitWebDriver');
  } catch {
    return false;
  }
}

/** tauri-driver: `TAURI_DRIVER`, else the one script/setup installs, else the one on PATH. */
const tools = process.env.TASKYARD_TOOLS_DIR || join(homedir(), '.cache', 'taskyard', 'tools');
const installed = join(tools, 'tauri-driver', 'bin', 'tauri-driver');
const DRIVER = process.env.TAURI_DRIVER || (existsSync(installed) ? installed : 'tauri-driver');

const ELEMENT = 'element-6066-11e4-a52f-4a5bd9fd47e9';

/** A free TCP port on loopback. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One app under WebDriver: its driver process, its session, what the driver printed. */
export class Session {
  /**
   * Starts tauri-driver with `env` (the app inherits it) and a session on `application`.
   * `log.text` collects the driver's and the app's output.
   */
  static async start(application, env) {
    const port = await freePort();
    const nativePort = await freePort();
    const driver = spawn(DRIVER, ['--port', String(port), '--native-port', String(nativePort)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    const log = { text: '' };
    driver.stdout.setEncoding('utf8').on('data', (c) => (log.text += c));
    driver.stderr.setEncoding('utf8').on('data', (c) => (log.text += c));
    const exited = new Promise((resolve) => driver.once('exit', resolve));
    const session = new Session(`http://127.0.0.1:${port}`, driver, log, exited);
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        const status = await fetch(`${session.base}/status`);
        if (status.ok) break;
      } catch {
        // not listening yet
      }
      if (driver.exitCode !== null) throw new Error(`tauri-driver exited (${driver.exitCode}):\n${log.text}`);
      if (Date.now() > deadline) throw new Error(`tauri-driver did not answer in 20 s:\n${log.text}`);
      await sleep(100);
    }
    // The app starts loading before the driver attaches: waiting for a page load could wait
    // forever, so every wait here is on a condition instead.
    const created = await session.raw('POST', '/session', {
      capabilities: {
        alwaysMatch: { browserName: 'wry', pageLoadStrategy: 'none', 'tauri:options': { application } },
      },
    });
    session.id = created.sessionId;
    return session;
  }

  constructor(base, driver, log, exited) {
    this.base = base;
    this.driver = driver;
    this.log = log;
    this.exited = exited;
    this.id = null;
  }

  async raw(method, path, body) {
    const response = await fetch(`${this.base}${path}`, {
      method,
      // A command the driver never answers fails the test in a minute, not in undici's five.
      signal: AbortSignal.timeout(60_000),
      headers: body ? { 'content-type': 'application/json' } : undefined,
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await response.json().catch(() => ({}));
    if (!response.ok || json.value?.error) {
      const e = json.value ?? {};
      throw new Error(`WebDriver ${method} ${path}: ${e.error ?? response.status}: ${e.message ?? ''}`);
    }
    return json.value;
  }

  cmd(method, path, body) {
    return this.raw(method, `/session/${this.id}${path}`, body);
  }

  url() {
    return this.cmd('GET', '/url');
  }

  title() {
    return this.cmd('GET', '/title');
  }

  /** Runs `fn` (its source) in the page with `args`; resolves with what it returns. */
  run(fn, ...args) {
    return this.cmd('POST', '/execute/sync', { script: `return (${fn}).apply(null, arguments);`, args });
  }

  /** Like `run`, for a function returning a promise. */
  runAsync(fn, ...args) {
    const script = `const done = arguments[arguments.length - 1];
      Promise.resolve((${fn}).apply(null, Array.from(arguments).slice(0, -1)))
        .then((v) => done({ ok: v }), (e) => done({ error: String(e && e.message || e) }));`;
    return this.cmd('POST', '/execute/async', { script, args });
  }

  /**
   * Waits until `fn` (run in the page) returns something truthy, and resolves with it. A page
   * that is being replaced throws for a moment: that counts as not yet.
   */
  async waitFor(what, fn, args = [], timeout = 30_000) {
    const deadline = Date.now() + timeout;
    let last;
    for (;;) {
      try {
        const value = await this.run(fn, ...args);
        if (value) return value;
      } catch (error) {
        last = error;
      }
      if (Date.now() > deadline) {
        throw new Error(`waited ${timeout / 1000} s for ${what}${last ? ` (last error: ${last.message})` : ''}`);
      }
      await sleep(150);
    }
  }

  /** The element `fn` finds in the page, once it finds one. */
  async element(what, fn, args = [], timeout) {
    const found = await this.waitFor(what, fn, args, timeout);
    const id = found[ELEMENT] ?? found.ELEMENT ?? Object.values(found)[0];
    if (!id) throw new Error(`${what}: not an element: ${JSON.stringify(found)}`);
    return id;
  }

  /** A button, link or tab whose text is `text`, shown and enabled. */
  byText(text, selector = 'button, a, [role="tab"]') {
    return this.element(
      `“${text}”`,
      (sel, t) =>
        [...document.querySelectorAll(sel)].find((e) => e.textContent.trim().startsWith(t) && !e.disabled && e.getClientRects().length > 0),
      [selector, text],
    );
  }

  /** The form control labelled `label`. */
  byLabel(label) {
    return this.element(
      `the field “${label}”`,
      (t) =>
        [...document.querySelectorAll('label')].find((l) => l.textContent.trim() === t)?.control ??
        document.querySelector(`[aria-label="${t}"]`),
      [label],
    );
  }

  click(element) {
    return this.cmd('POST', `/element/${element}/click`, {});
  }

  async type(element, text) {
    await this.cmd('POST', `/element/${element}/clear`, {}).catch(() => undefined);
    return this.cmd('POST', `/element/${element}/value`, { text });
  }

  /** What the display shows (see xshot.mjs: the driver's own screenshot hangs on tauri:// pages). */
  async screenshot(file) {
    screenshotDisplay(file);
  }

  /**
   * Ends the session (the driver closes the app) and the driver. An app that is still there
   * 10 s later (a heavily loaded machine) gets SIGTERM, then SIGKILL: a leftover app would
   * take every later launch's single-instance hand-over.
   */
  async end() {
    const apps = tree(this.driver.pid).filter((p) => p !== this.driver.pid && !isDriver(p));
    if (this.id) await this.raw('DELETE', `/session/${this.id}`).catch(() => undefined);
    this.id = null;
    for (const signal of [null, 'SIGTERM', 'SIGKILL']) {
      for (const pid of apps) if (signal) try { process.kill(pid, signal); } catch { /* gone */ }
      const deadline = Date.now() + 10_000;
      while (apps.some(alive) && Date.now() < deadline) await sleep(100);
      if (!apps.some(alive)) break;
    }
    this.driver.kill('SIGTERM');
    await Promise.race([this.exited, sleep(5000)]);
    if (this.driver.exitCode === null) this.driver.kill('SIGKILL');
  }
}
