// What the desktop tests share: the app binary, a fresh home for each app, the processes it
// leaves, and screenshots.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeXwd, png, screenshotDisplay } from './xshot.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const targetDir = process.env.CARGO_TARGET_DIR || join(homedir(), '.cache', 'taskyard', 'target');
/** The app under test (the debug build unless told otherwise). */
export const APP = process.env.TASKYARD_DESKTOP_BIN || join(targetDir, 'debug', 'taskyard-desktop');
/** The server binary, for team servers the app connects to. */
export const SERVER = process.env.TASKYARD_BIN || join(targetDir, 'debug', 'taskyard');
export const SCREENSHOTS = join(here, 'screenshots');

export const IDENTIFIER = 'dev.taskyard.desktop';

/** A home folder of its own, and the environment an app started there gets. */
export function freshHome(name) {
  const root = mkdtempSync(join(tmpdir(), `taskyard-desktop-${name}-`));
  const home = join(root, 'home');
  mkdirSync(home, { recursive: true });
  const env = {
    PATH: process.env.PATH,
    DISPLAY: process.env.DISPLAY,
    XAUTHORITY: process.env.XAUTHORITY,
    DBUS_SESSION_BUS_ADDRESS: process.env.DBUS_SESSION_BUS_ADDRESS,
    HOME: home,
    SHELL: '/bin/sh',
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_CACHE_HOME: join(home, '.cache'),
    TASKYARD_LOG: 'info',
    GIT_AUTHOR_NAME: 'e2e',
    GIT_AUTHOR_EMAIL: 'e2e@example.com',
    GIT_COMMITTER_NAME: 'e2e',
    GIT_COMMITTER_EMAIL: 'e2e@example.com',
  };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return { root, home, env, dataDir: join(home, '.local', 'share', IDENTIFIER), configFile: join(home, '.config', IDENTIFIER, 'desktop.json') };
}

/** Remembers a choice, as the first-run page would. */
export function remember(place, choice) {
  mkdirSync(dirname(place.configFile), { recursive: true });
  writeFileSync(place.configFile, JSON.stringify(choice));
}

/** A git repository with one commit on main. */
export function makeRepo(dir, env) {
  mkdirSync(dir, { recursive: true });
  const git = (...args) => execFileSync('git', ['-C', dir, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
  git('init', '-q', '-b', 'main');
  writeFileSync(join(dir, 'README.md'), '# demo\n');
  git('add', '.');
  git('commit', '-q', '-m', 'init');
  return git;
}

/** The drivers the tests start themselves (they share the app's environment). */
const DRIVERS = ['tauri-driver', 'WebKitWebDriver'];

/**
 * Processes whose program is `bin`, or whose command line or environment mentions `marker`,
 * but for the WebDriver processes.
 */
export function survivors(bin, marker) {
  const real = realpathSync(bin);
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const exe = readlinkSync(`/proc/${entry}/exe`);
      if (DRIVERS.some((d) => exe.endsWith(`/${d}`))) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      let environ = '';
      try {
        environ = readFileSync(`/proc/${entry}/environ`, 'utf8');
      } catch {
        // another user's
      }
      if (exe === real || cmdline.includes(marker) || environ.includes(marker)) found.push(`${entry}: ${cmdline.trim()}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/**
 * The survivors once they had `ms` to go (a closed app's WebKit processes exit a moment after
 * it): an empty list when everything went.
 */
export async function gone(bin, marker, ms = 5_000) {
  const deadline = Date.now() + ms;
  let left = survivors(bin, marker);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(100);
    left = survivors(bin, marker);
  }
  return left;
}

/** Stops a child with SIGTERM (SIGKILL after 5 s) and resolves once it exited. */
export async function stopped(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** The pid of the app started with `marker` in its environment. */
export function appPid(bin, marker) {
  const real = realpathSync(bin);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/exe`) !== real) continue;
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').includes(marker)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

/** The names of the X windows on this display (the title bar's text). */
export function windowTitles() {
  const tree = execFileSync('xwininfo', ['-root', '-tree'], { encoding: 'utf8' });
  return [...tree.matchAll(/^\s*0x[0-9a-f]+ "((?:[^"\\]|\\.)*)"/gm)].map((m) => m[1]);
}

export function screenshotPath(name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return join(SCREENSHOTS, `${name}.png`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Adds the repository at `repo` on the projects page and waits for its empty board. */
export async function addProject(app, repo) {
  await app.type(await app.byLabel('Repository path'), repo);
  await app.click(await app.byText('Add project'));
  await app.waitFor('the empty board', () => document.body.innerText.includes('No tasks yet'));
}

/**
 * Creates a task whose agent is the shell `command` on the open board, starts it, and waits
 * until the log shows `line 2` while the agent still prints: resolves with the lines seen then.
 */
export async function startScriptedTask(app, title, command) {
  await app.click(await app.byText('New task'));
  await app.type(await app.byLabel('Title'), title);
  await app.type(await app.byLabel('Description'), `Say hello in hello.txt`);
  await app.type(await app.byLabel('Agent command'), command);
  await app.click(await app.byText('Create task'));
  await app.click(
    await app.element('the card', (t) => [...document.querySelectorAll('[data-card-id]')].find((c) => c.textContent.includes(t)), [title]),
  );
  await app.click(await app.byText('Start'));
  return app.waitFor('line 2 of the log', () => {
    const l = [...document.querySelectorAll('.log-kind-stdout')].map((e) => e.textContent);
    return l.includes('line 2') && l;
  });
}

/** The lines of the open run's log. */
export const logLines = () => [...document.querySelectorAll('.log-kind-stdout')].map((e) => e.textContent);

/** An agent that prints eight lines over 3 s, then writes the prompt to hello.txt. */
export const COUNTING_AGENT = 'for i in 1 2 3 4 5 6 7 8; do echo "line $i"; sleep 0.4; done; echo "$TASKYARD_PROMPT" > hello.txt';

/**
 * Watches the session bus for desktop notifications (the Notify calls the app makes, whether
 * or not a notification daemon shows them). `texts()` is what dbus-monitor printed so far;
 * `stop()` ends it.
 */
export function watchNotifications() {
  const monitor = spawn('dbus-monitor', ['--session', "type='method_call',interface='org.freedesktop.Notifications',member='Notify'"], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // A step that fails before it stops the monitor must not keep the test process alive.
  monitor.unref();
  monitor.stdout.unref();
  monitor.stderr.unref();
  process.once('exit', () => monitor.kill('SIGTERM'));
  let out = '';
  monitor.stdout.setEncoding('utf8').on('data', (c) => (out += c));
  return {
    texts: () => out,
    async waitFor(what, timeout = 15_000) {
      const deadline = Date.now() + timeout;
      while (!what.every((w) => out.includes(w))) {
        if (Date.now() > deadline) throw new Error(`no notification with ${what.join(' and ')} in ${timeout / 1000} s:\n${out}`);
        await sleep(100);
      }
    },
    stop: () => monitor.kill('SIGTERM'),
  };
}

/**
 * A `test` whose failure marks `state.failed` (so `after` prints the app's output) and leaves
 * a screenshot `failed-<prefix>-<name>.png`; `finally` runs after each step however it ends.
 */
export function stepper(prefix, state, final) {
  return (name, fn) =>
    test(name, async () => {
      try {
        await fn();
      } catch (error) {
        state.failed = true;
        try {
          screenshotDisplay(screenshotPath(`failed-${prefix}-${name.replace(/\W+/g, '-')}`));
        } catch {
          // no display to take
        }
        throw error;
      } finally {
        await final?.();
      }
    });
}

/**
 * Presses `keys` (xdotool names: `ctrl+q`, `Escape`) in the window titled `title`, as a
 * person at the keyboard would: the window gets the focus, the keys go through the X server.
 */
export function pressKeys(title, ...keys) {
  const id = windowId(title);
  execFileSync('xdotool', ['windowfocus', '--sync', id]);
  execFileSync('xdotool', ['key', '--clearmodifiers', ...keys]);
}

/** Clicks the window titled `title` at a place given as fractions of its width and height. */
export function clickWindow(title, fx, fy) {
  const id = windowId(title);
  const info = execFileSync('xwininfo', ['-id', id], { encoding: 'utf8' });
  const size = (name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(info)[1]);
  const [x, y] = [Math.round(size('Width') * fx), Math.round(size('Height') * fy)];
  execFileSync('xdotool', ['mousemove', '--window', id, String(x), String(y), 'click', '1']);
}

/** Whether a window titled `title` is on the screen (mapped and not hidden). */
export function windowShown(title) {
  try {
    return /Map State:\s+IsViewable/.test(execFileSync('xwininfo', ['-id', windowId(title)], { encoding: 'utf8' }));
  } catch {
    return false;
  }
}

/** The X window titled `title` (the newest, when several are). */
function windowId(title) {
  // xwininfo reads the UTF-8 titles that xdotool's search cannot match.
  const tree = execFileSync('xwininfo', ['-root', '-tree'], { encoding: 'utf8' });
  const found = [...tree.matchAll(/^\s*(0x[0-9a-f]+) "((?:[^"\\]|\\.)*)"/gm)].filter((m) => m[2] === title);
  if (found.length === 0) throw new Error(`no window titled “${title}” (there are: ${windowTitles().join(', ')})`);
  return String(Number(found[found.length - 1][1]));
}

/** What the window titled `title` shows, as a PNG in `file` (a dialog, say). */
export function screenshotWindow(title, file) {
  writeFileSync(file, png(decodeXwd(execFileSync('xwd', ['-id', windowId(title), '-silent'], { maxBuffer: 64 * 1024 * 1024 }))));
}

/** Waits until a window titled `title` is there (`present`) or gone. */
export async function waitForWindow(title, present = true, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (windowTitles().includes(title) !== present) {
    if (Date.now() > deadline) throw new Error(`the window “${title}” is ${present ? 'not there' : 'still there'} (there are: ${windowTitles().join(', ')})`);
    await sleep(100);
  }
}
