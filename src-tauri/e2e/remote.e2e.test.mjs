// The desktop app pointed at a team server, end to end: the real app under Xvfb and WebDriver,
// the real server binary in team mode on loopback. Addresses that are not a usable team server
// (nothing there, not Taskyard, another version, a one-person server) are refused on the
// first-run page with the reason; the real one is remembered, its own sign-in page comes up,
// the board and a run's live log show in the window, and the page may report to the app but
// not choose for it. A remembered server that is down at launch gets a page with "Try again"
// and "Use this computer".
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after } from 'node:test';
import { launchServer } from '../../ui/e2e/server.mjs';
import {
  addProject,
  APP,
  COUNTING_AGENT,
  freshHome,
  logLines,
  makeRepo,
  remember,
  SERVER,
  screenshotPath,
  sleep,
  startScriptedTask,
  gone,
  stopped,
  watchNotifications,
  windowTitles,
  stepper,
} from './desktop.mjs';
import { freePort, Session } from './webdriver.mjs';

const place = freshHome('remote');
const repo = join(place.root, 'repo');
makeRepo(repo, place.env);
const servers = [];
const stubs = [];
let app;
const state = { failed: false };

after(async () => {
  await app?.end();
  for (const s of stubs) s.close();
  await Promise.all(servers.map(({ child }) => stopped(child)));
  if (state.failed) {
    console.error(`--- the app's output ---\n${app?.log.text}`);
    for (const { log } of servers) console.error(`--- a server's output ---\n${log.text}`);
  } else {
    rmSync(place.root, { recursive: true, force: true });
  }
  assert.deepEqual(await gone(APP, place.root), [], 'nothing of the app survives');
});

const step = stepper('remote', state);

/** The real server binary; `team` for a team server. Resolves with its origin. */
async function startServer(name, { team, port = 0 }) {
  const env = team ? { TASKYARD_AUTH: 'team', TASKYARD_JWT_SECRET: randomBytes(32).toString('hex') } : {};
  const url = await launchServer(SERVER, ['--data-dir', join(place.root, name), 'serve', '--port', String(port)], env, (child, log) =>
    servers.push({ child, log }),
  );
  return new URL(url).origin;
}

/** An HTTP server on loopback answering every request with `handler`'s status and body. */
async function stub(handler) {
  const server = createServer((req, res) => {
    const [status, type, body] = handler(req.url);
    res.writeHead(status, { 'content-type': type }).end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  stubs.push(server);
  return `http://127.0.0.1:${server.address().port}`;
}

async function connect(address) {
  await app.waitFor('the first-run page', () => !document.getElementById('welcome')?.hidden && document.getElementById('connect'));
  await app.type(await app.byLabel('Server address'), address);
  await app.click(await app.byText('Connect'));
}

async function refused(address, why) {
  await connect(address);
  const message = await app.waitFor('the reason', () => {
    const e = document.getElementById('remote-error');
    return e && !e.hidden && e.textContent;
  });
  assert.match(message, why);
  assert.ok(!existsSync(place.configFile) || !readFileSync(place.configFile, 'utf8').includes(address), 'nothing is remembered');
  return message;
}

step('refuses addresses that are not a usable team server, saying why', async () => {
  app = await Session.start(APP, place.env);
  const nothing = `http://127.0.0.1:${await freePort()}`;
  await refused(nothing, /cannot reach .*nothing answers there/);
  await refused('http://taskyard.example.com', /use https:\/\//);
  await refused(await stub(() => [200, 'text/html', '<h1>It works</h1>']), /answers, but is not a Taskyard server \(\/health gave 200 OK\)/);
  const other = await stub((path) => (path === '/health' ? [200, 'application/json', '{"status":"ok","version":"9.0.0"}'] : [404, 'text/plain', '']));
  const message = await refused(other, /runs Taskyard 9\.0\.0, which this app \(0\.1\.0\) cannot work with/);
  assert.match(message, /use an app of version 9\.0\.x, or update the server/);
  await refused(await startServer('solo', { team: false }), /local mode\) and cannot be shared/);
  await app.screenshot(screenshotPath('desktop-remote-refused'));
});

let team;
step('connects to a team server: its sign-in page, then its board', async () => {
  team = await startServer('team', { team: true });
  await connect(team);
  await app.waitFor('the server sign-in page', () => document.body.innerText.includes('Create the admin account'));
  assert.equal(new URL(await app.url()).origin, team);
  const authority = team.replace('http://', '');
  assert.ok(windowTitles().includes(`Taskyard — ${authority} (team server)`), windowTitles().join(', '));
  const settings = JSON.parse(readFileSync(place.configFile, 'utf8'));
  assert.deepEqual(settings.choice, { mode: 'remote', server: team });
  assert.deepEqual(settings.recent_servers, [team]);
  await app.type(await app.byLabel('E-mail'), 'ada@example.com');
  await app.type(await app.byLabel('Name'), 'Ada Admin');
  await app.type(await app.byLabel('Password'), 'correct horse battery');
  await app.click(await app.byText('Create account'));
  await app.waitFor('the projects page', () => document.body.innerText.includes('No projects yet'));
  await addProject(app, repo);
  await app.screenshot(screenshotPath('desktop-remote-board'));
});

step("shows a team server's run with its log live", async () => {
  const notifications = watchNotifications();
  const seen = await startScriptedTask(app, 'Write a greeting', COUNTING_AGENT);
  assert.ok(!seen.includes('line 8'), 'the log arrived while the agent was still printing');
  await app.waitFor('the run to succeed', () => document.querySelector('.chip[data-run="succeeded"]'), [], 60_000);
  assert.deepEqual(await app.run(logLines), [1, 2, 3, 4, 5, 6, 7, 8].map((i) => `line ${i}`));
  // The board told the app, and the app raised a desktop notification.
  try {
    await notifications.waitFor(['"Run finished"', 'Write a greeting']);
  } finally {
    notifications.stop();
  }
  await app.screenshot(screenshotPath('desktop-remote-log'));
});

step("the server's page may report runs to the app, and nothing else", async () => {
  // A refusal comes back as the promise's rejection, or the driver reports it as the
  // script's error.
  const call = (command, args) =>
    app.runAsync((c, a) => window.__TAURI_INTERNALS__.invoke(c, a), command, args).catch((e) => ({ error: e.message }));
  assert.deepEqual(await call('report', { running: 0, notices: [] }), { ok: null });
  for (const [command, args] of [
    ['choose', { mode: 'local' }],
    ['retry', {}],
    // A team server must never choose the programs this computer runs.
    ['set_program', { agent: 'claude', path: '/bin/sh' }],
    ['choose_program', { agent: 'claude' }],
    ['plugin:notification|notify', { options: { title: 'x' } }],
    ['plugin:dialog|message', { message: 'x' }],
  ]) {
    const result = await call(command, args);
    assert.match(result.error ?? '', /not allowed|not found/, `${command} is refused: ${JSON.stringify(result)}`);
  }
  // A flood from the page: an oversized report is refused; of many small ones, five a ten
  // seconds become notifications and the rest one summary.
  const oversized = await call('report', { running: 0, notices: Array.from({ length: 11 }, (_, i) => ({ title: `Big ${i}`, body: 'x' })) });
  assert.match(oversized.error ?? '', /at most 10 notices/, JSON.stringify(oversized));
  const notifications = watchNotifications();
  try {
    for (let i = 1; i <= 8; i++) {
      assert.deepEqual(await call('report', { running: 0, notices: [{ title: `Flood ${i}`, body: 'from the page' }] }), { ok: null });
    }
    await notifications.waitFor(['"Flood 1"', '"Flood 4"', '"More runs changed"']);
    await sleep(1_000);
    for (const i of [6, 7, 8]) assert.ok(!notifications.texts().includes(`"Flood ${i}"`), `Flood ${i} was held back`);
  } finally {
    notifications.stop();
  }
  const settings = JSON.parse(readFileSync(place.configFile, 'utf8'));
  assert.deepEqual(settings.choice, { mode: 'remote', server: team });
  assert.equal(settings.programs, undefined, 'no program was chosen');
});

step('a remembered server that is down at launch: a page with "Try again" and "Use this computer"', async () => {
  await app.end();
  const port = await freePort();
  const down = `http://127.0.0.1:${port}`;
  remember(place, { choice: { mode: 'remote', server: down }, recent_servers: [down] });
  app = await Session.start(APP, place.env);
  const message = await app.waitFor('the error page', () => !document.getElementById('error')?.hidden && document.getElementById('error-message').textContent);
  assert.match(message, new RegExp(`cannot reach ${down}: nothing answers there`));
  assert.ok(windowTitles().includes('Taskyard — problem'), windowTitles().join(', '));
  await app.screenshot(screenshotPath('desktop-remote-down'));
  // The server comes up; "Try again" gets there.
  await startServer('later', { team: true, port });
  await app.click(await app.byText('Try again'));
  await app.waitFor('the server sign-in page', () => document.body.innerText.includes('Create the admin account'));
  // And the way back to this computer is on the error page, one click.
  await app.end();
  await stopped(servers.at(-1).child);
  app = await Session.start(APP, place.env);
  await app.waitFor('the error page', () => !document.getElementById('error')?.hidden && document.getElementById('error-local'));
  await app.click(await app.byText('Use this computer'));
  await app.waitFor('the projects page', () => document.body.innerText.includes('No projects yet'));
  assert.ok(windowTitles().includes('Taskyard — this computer'), windowTitles().join(', '));
  assert.deepEqual(JSON.parse(readFileSync(place.configFile, 'utf8')).choice, { mode: 'local' });
});
