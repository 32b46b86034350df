// The desktop app on this computer, end to end: the real debug binary in a real window (Xvfb),
// driven over WebDriver (tauri-driver + WebKitWebDriver). First run, the board from the
// in-process server, a repository, a run with a live log, the merge, and quitting with a run
// going: nothing of the app or its runs survives.
//
//   TASKYARD_DESKTOP_BIN   the app (default $CARGO_TARGET_DIR/debug/taskyard-desktop)
//
// Run under a display and a D-Bus session: dbus-run-session -- xvfb-run -a npm run e2e
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import {
  addProject,
  APP,
  appPid,
  clickWindow,
  COUNTING_AGENT,
  freshHome,
  logLines,
  makeRepo,
  pressKeys,
  screenshotPath,
  screenshotWindow,
  sleep,
  startScriptedTask,
  survivors,
  waitForWindow,
  watchNotifications,
  windowShown,
  windowTitles,
  stepper,
} from './desktop.mjs';
import { Session } from './webdriver.mjs';

const place = freshHome('local');
const repo = join(place.root, 'repo');
const git = makeRepo(repo, place.env);
let app;
const state = { failed: false };

before(async () => {
  app = await Session.start(APP, place.env);
});

after(async () => {
  await app?.end();
  if (state.failed) console.error(`--- the app's output ---\n${app?.log.text}`);
  else rmSync(place.root, { recursive: true, force: true });
});

const step = stepper('local', state);


step('asks on the first run where the board lives', async () => {
  await app.waitFor('the first-run page', () => !document.getElementById('welcome')?.hidden && document.getElementById('use-local'));
  assert.match(await app.url(), /^tauri:\/\/localhost\/index\.html\?view=welcome/);
  assert.ok(windowTitles().includes('Taskyard — choose where your board lives'), windowTitles().join(', '));
  await app.screenshot(screenshotPath('desktop-first-run'));
});

step('uses this computer: the board comes from the in-process server, the token stays out of the page', async () => {
  await app.click(await app.byText('Use this computer'));
  await app.waitFor('the projects page', () => document.body.innerText.includes('No projects yet'));
  const url = new URL(await app.url());
  assert.equal(url.hostname, '127.0.0.1');
  // The page drops the launch token from its address once the cookie holds the session.
  await app.waitFor('the address without the token', () => location.search === '', [], 5_000);
  // The window's title names where the board comes from (the page's own title is the board's).
  assert.ok(windowTitles().includes('Taskyard — this computer'), windowTitles().join(', '));
  assert.equal(await app.run(() => document.cookie), '', 'the session cookie is HttpOnly');
  assert.ok(existsSync(join(place.dataDir, 'taskyard.db')), 'the database is in the data folder');
  assert.deepEqual(JSON.parse(readFileSync(place.configFile, 'utf8')).choice, { mode: 'local' });
  // The token was never printed.
  assert.doesNotMatch(app.log.text, /token=[0-9a-f]{16}/);
});

step('adds a repository', () => addProject(app, repo));

step('runs a task and shows its log live', async () => {
  const notifications = watchNotifications();
  const seen = await startScriptedTask(app, 'Write a greeting', COUNTING_AGENT);
  assert.ok(!seen.includes('line 8'), 'the log arrived while the agent was still printing');
  await app.screenshot(screenshotPath('desktop-live-log'));
  await app.waitFor('the run to succeed', () => document.querySelector('.chip[data-run="succeeded"]'));
  assert.deepEqual(await app.run(logLines), [1, 2, 3, 4, 5, 6, 7, 8].map((i) => `line ${i}`));
  // The board told the app, and the app raised a desktop notification.
  try {
    await notifications.waitFor(['"Run finished"', 'Write a greeting']);
  } finally {
    notifications.stop();
  }
});

step('merges the run into main', async () => {
  await app.click(await app.byText('Changes'));
  await app.waitFor('the diff', () => document.body.innerText.includes('hello.txt'));
  await app.click(await app.byText('Merge into main'));
  await app.waitFor('the merge', () => document.querySelector('.outcome-ok'));
  assert.equal(git('show', 'main:hello.txt').trim(), 'Say hello in hello.txt');
  await app.screenshot(screenshotPath('desktop-merged'));
});

step('a page cannot take the window to another site', async () => {
  const board = await app.url();
  await app.run(() => {
    location.href = 'http://198.51.100.7/phish';
  });
  await sleep(1_000);
  assert.equal(await app.url(), board, 'the window stays on its server');
  assert.ok(await app.run(() => document.body.innerText.includes('Merge')), 'and still shows the board');
});

/** Starts a run of a minute through the page's own API access; resolves with its task's id. */
async function startLongRun(title) {
  const task = await app.runAsync(async (name) => {
    const project = (await (await fetch('/api/projects')).json())[0];
    const res = await fetch(`/api/projects/${project.id}/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: name, description: 'count', agent: 'command', agent_config: { command: `for i in $(seq 600); do echo ${name.replace(/\W/g, '-')} $i; sleep 0.1; done` } }),
    });
    const created = await res.json();
    const started = await fetch(`/api/tasks/${created.id}/runs`, { method: 'POST' });
    return started.status === 201 && created.id;
  }, title);
  assert.ok(task.ok, JSON.stringify(task));
  // This run's agent is running (the others' have other names in their command lines).
  const marker = title.replace(/\W/g, '-');
  const deadline = Date.now() + 10_000;
  while (!survivors(APP, place.root).some((p) => p.includes(marker)) && Date.now() < deadline) await sleep(100);
  assert.ok(survivors(APP, place.root).some((p) => p.includes(marker)), 'the run is going');
  return task.ok;
}

const TITLE = 'Taskyard — this computer';
const QUIT = 'Quit Taskyard?';
let counting;

step('quitting with a run going asks first; "Keep running" keeps it going', async () => {
  counting = await startLongRun('Count to 600');
  pressKeys(TITLE, 'ctrl+q');
  await waitForWindow(QUIT);
  await sleep(500);
  screenshotWindow(QUIT, screenshotPath('desktop-quit-dialog'));
  pressKeys(QUIT, 'Escape');
  await waitForWindow(QUIT, false);
  await sleep(500);
  assert.ok(appPid(APP, place.root), 'the app goes on');
  assert.ok(survivors(APP, place.root).some((p) => p.includes('Count-to-600')), 'and so does the run');
});

step('"Quit" stops the run; it goes back to the queue and runs again at the next launch', async () => {
  pressKeys(TITLE, 'ctrl+q');
  await waitForWindow(QUIT);
  await sleep(300);
  // The dialog's buttons: Quit on the left half, Keep running on the right.
  clickWindow(QUIT, 0.25, 0.86);
  const started = Date.now();
  // The window goes at once; stopping the run takes the server a few seconds more.
  while (windowShown(TITLE) && Date.now() - started < 5_000) await sleep(20);
  assert.ok(!windowShown(TITLE), 'the window is gone');
  console.log(`the window went ${Date.now() - started} ms after "Quit"`);
  while (survivors(APP, place.root).length > 0 && Date.now() - started < 30_000) await sleep(100);
  assert.deepEqual(survivors(APP, place.root), [], 'nothing survives');
  console.log(`quit from the dialog in ${Date.now() - started} ms`);
  await app.end();
  app = await Session.start(APP, place.env);
  await app.waitFor('the board', () => document.body.innerText.includes('Projects'));
  // The server's recovery puts the interrupted run back in the queue and starts it again.
  const deadline = Date.now() + 30_000;
  let runs;
  for (;;) {
    runs = (await app.runAsync((task) => fetch(`/api/tasks/${task}/runs`).then((r) => r.json()), counting)).ok;
    if (runs?.[0]?.status === 'running' && survivors(APP, place.root).some((p) => p.includes('Count-to-600'))) break;
    assert.ok(Date.now() < deadline, `the run is not going again: ${JSON.stringify(runs)}`);
    await sleep(250);
  }
});

step('quits on SIGTERM with a run going; nothing of the app or its runs survives', async () => {
  await startLongRun('Count again');
  const pid = appPid(APP, place.root);
  assert.ok(pid, 'the app process is found');
  const started = Date.now();
  process.kill(pid, 'SIGTERM');
  while (Date.now() - started < 30_000) {
    if (survivors(APP, place.root).length === 0) break;
    await sleep(100);
  }
  assert.deepEqual(survivors(APP, place.root), [], 'nothing survives');
  console.log(`quit in ${Date.now() - started} ms`);
});
