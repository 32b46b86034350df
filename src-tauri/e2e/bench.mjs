// The desktop app's figures, from its .deb as a user installs it: the package's size, launch to
// a rendered board, the idle memory of all the app's processes (WebKit's included) with the
// board open, and the memory after opening a 100,000-line run's log. Prints them; the targets
// are 10 MiB, 2 s and 150 MiB. For scale it also measures the floor: the same binary showing
// only its own first-run page (a few kB of HTML, no server started), which is what
// WebKitGTK's three processes take before the board adds anything.
//
//   TASKYARD_DESKTOP_DEB   the package (default: the one script/desktop-bundle made)
//
// Run under a display and a D-Bus session: dbus-run-session -- xvfb-run -a -s "-screen 0
// 1400x900x24" npm run bench
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { appPid, freshHome, makeRepo, remember, sleep } from './desktop.mjs';
import { memory } from './processes.mjs';
import { Session } from './webdriver.mjs';

const targetDir = process.env.CARGO_TARGET_DIR || join(homedir(), '.cache', 'taskyard', 'target');

/** The package: TASKYARD_DESKTOP_DEB, or the one script/desktop-bundle made. */
export function debPackage() {
  if (process.env.TASKYARD_DESKTOP_DEB) return process.env.TASKYARD_DESKTOP_DEB;
  const dir = join(targetDir, 'desktop', 'bundle', 'deb');
  const debs = readdirSync(dir).filter((f) => f.endsWith('.deb'));
  if (debs.length !== 1) throw new Error(`${dir}: expected one .deb, found ${debs.length} (run script/desktop-bundle deb)`);
  return join(dir, debs[0]);
}

/** Unpacks `deb` under `root` as dpkg would install it; resolves with its binary. */
export function unpack(deb, root) {
  execFileSync('dpkg-deb', ['-x', deb, root]);
  return join(root, 'usr', 'bin', 'taskyard-desktop');
}

/** Polls `fn` in the page as fast as the driver answers; the time it first held, in ms since `t0`. */
async function when(app, fn, t0, timeout = 60_000) {
  for (;;) {
    try {
      if (await app.run(fn)) return Date.now() - t0;
    } catch {
      // the page is being replaced
    }
    if (Date.now() - t0 > timeout) throw new Error(`not within ${timeout} ms: ${fn}`);
    await sleep(10);
  }
}

const mib = (n) => `${n.toFixed(1)} MiB`;

async function main() {
  const deb = debPackage();
  const place = freshHome('bench');
  const bin = unpack(deb, join(place.root, 'installed'));
  const repo = join(place.root, 'repo');
  makeRepo(repo, place.env);
  remember(place, { choice: { mode: 'local' } });
  console.log(`.deb: ${mib(statSync(deb).size / 1024 / 1024)} (${deb})`);

  // Prepare: a project with a finished 100,000-line run.
  let app = await Session.start(bin, place.env);
  await app.waitFor('the projects page', () => document.body.innerText.includes('No projects yet'));
  const made = await app.runAsync(async (path) => {
    const post = (url, body) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json());
    const project = await post('/api/projects', { path });
    const task = await post(`/api/projects/${project.id}/tasks`, { title: 'Count to 100,000', description: 'count', agent: 'command', agent_config: { command: 'seq 100000' } });
    await post(`/api/tasks/${task.id}/runs`, {});
    return { project: project.id, task: task.id };
  }, repo);
  if (!made.ok) throw new Error(`cannot prepare: ${made.error}`);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const runs = await app.runAsync((task) => fetch(`/api/tasks/${task}/runs`).then((r) => r.json()), made.ok.task);
    if (runs.ok?.[0]?.status === 'succeeded') break;
    if (Date.now() > deadline) throw new Error(`the run did not finish: ${JSON.stringify(runs)}`);
    await sleep(250);
  }
  await app.end();

  // Launch to the first page, and to the board one click later.
  const t0 = Date.now();
  app = await Session.start(bin, place.env);
  const projects = await when(app, () => document.querySelector('.project-name'), t0);
  const paint = await app.run(() => performance.getEntriesByType('paint').map((p) => `${p.name} ${p.startTime.toFixed(0)} ms`).join(', '));
  await app.click(await app.element('the project', () => document.querySelector('.project-name')));
  const t1 = Date.now();
  const board = await when(app, () => document.querySelectorAll('.column-title').length >= 4, t1);
  console.log(`launch → projects page rendered: ${projects} ms (the server page's own ${paint})`);
  console.log(`projects page → board columns rendered: ${board} ms (launch → board: ${projects + board} ms)`);

  await sleep(5_000);
  const pid = appPid(bin, place.root);
  const idle = memory(pid);
  console.log(`idle, board open: RSS ${mib(idle.rss)}, PSS ${mib(idle.pss)} (${idle.each.join(', ')})`);

  await app.click(await app.element('the card', () => [...document.querySelectorAll('[data-card-id]')].find((c) => c.textContent.includes('100,000'))));
  const t2 = Date.now();
  const opened = await when(app, () => /100,00\d lines/.test(document.querySelector('.log-count')?.textContent ?? ''), t2);
  await sleep(3_000);
  const log = memory(pid);
  console.log(`100,000-line log open in ${opened} ms: RSS ${mib(log.rss)}, PSS ${mib(log.pss)} (${log.each.join(', ')})`);
  await app.end();

  // The floor: a first run (nothing chosen yet), so no server and a page of a few kB.
  const bare = freshHome('bench-floor');
  app = await Session.start(bin, bare.env);
  await app.waitFor('the first-run page', () => document.body.innerText.includes('Use this computer'));
  await sleep(5_000);
  const floor = memory(appPid(bin, bare.root));
  console.log(`floor, the first-run page alone: RSS ${mib(floor.rss)}, PSS ${mib(floor.pss)} (${floor.each.join(', ')})`);
  console.log(`the board and its server add: RSS ${mib(idle.rss - floor.rss)}, PSS ${mib(idle.pss - floor.pss)}`);
  await app.end();
  rmSync(bare.root, { recursive: true, force: true });
  rmSync(place.root, { recursive: true, force: true });
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
