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
  COUNTING_AGENT,
  freshHome,
  logLines,
  makeRepo,
  screenshotPath,
  sleep,
  startScriptedTask,
  survivors,
  watchNotifications,
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

step('quits on SIGTERM with a run going; nothing of the app or its runs survives', async () => {
  // A run that would go on for a minute, started through the page's own API access.
  const task = await app.runAsync(async () => {
    const project = (await (await fetch('/api/projects')).json())[0];
    const res = await fetch(`/api/projects/${project.id}/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'Count', description: 'count', agent: 'command', agent_config: { command: 'for i in $(seq 600); do echo tick $i; sleep 0.1; done' } }),
    });
    const created = await res.json();
    const started = await fetch(`/api/tasks/${created.id}/runs`, { method: 'POST' });
    return started.status;
  });
  assert.equal(task.ok, 201, JSON.stringify(task));
  const pid = appPid(APP, place.root);
  assert.ok(pid, 'the app process is found');
  // The agent is running (its `sleep` is a process of the run).
  const deadline = Date.now() + 10_000;
  while (!survivors(APP, place.root).some((p) => p.includes('seq 600')) && Date.now() < deadline) await sleep(100);
  assert.ok(survivors(APP, place.root).some((p) => p.includes('seq 600')), 'the run is going');
  const started = Date.now();
  process.kill(pid, 'SIGTERM');
  while (Date.now() - started < 30_000) {
    if (survivors(APP, place.root).length === 0) break;
    await sleep(100);
  }
  assert.deepEqual(survivors(APP, place.root), [], 'nothing survives');
  console.log(`quit in ${Date.now() - started} ms`);
});
