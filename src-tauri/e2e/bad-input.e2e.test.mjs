// What goes wrong at launch, in the window and in words a user can act on, with nothing lost:
// a data folder that cannot be written, a fixed port that is taken or is not a port, and a
// second launch (with a D-Bus session it hands over to the first and exits; without one it
// finds the data folder locked and says so).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after } from 'node:test';
import { APP, appPid, freshHome, gone, remember, screenshotPath, sleep, stepper, windowTitles } from './desktop.mjs';
import { Session } from './webdriver.mjs';

const places = [];
let app;
const state = { failed: false };

after(async () => {
  await app?.end();
  if (state.failed) console.error(`--- the app's output ---\n${app?.log.text}`);
  for (const place of places) {
    assert.deepEqual(await gone(APP, place.root), [], 'nothing of the app survives');
    if (!state.failed) rmSync(place.root, { recursive: true, force: true });
  }
});

const step = stepper('bad-input', state, async () => {
  await app?.end();
  app = undefined;
});

/** A fresh home whose app uses this computer, with `env` on top. */
function localPlace(name, env = {}) {
  const place = freshHome(name);
  places.push(place);
  remember(place, { choice: { mode: 'local' } });
  Object.assign(place.env, env);
  return place;
}

/** Launches the app in `place`, waits for the error page and resolves with its message. */
async function errorPage(place) {
  app = await Session.start(APP, place.env);
  const message = await app.waitFor('the error page', () => !document.getElementById('error')?.hidden && document.getElementById('error-message').textContent);
  assert.ok(windowTitles().includes('Taskyard — problem'), windowTitles().join(', '));
  return message;
}

step('a data folder that cannot be made', async () => {
  const place = localPlace('unwritable');
  const blocker = join(place.root, 'not-a-folder');
  writeFileSync(blocker, 'a file where the data folder would go');
  place.env.TASKYARD_DATA_DIR = join(blocker, 'data');
  const message = await errorPage(place);
  assert.match(message, /cannot make the data folder .*not-a-folder\/data: Not a directory/);
  await app.screenshot(screenshotPath('desktop-error-data-folder'));
  assert.equal(readFileSync(blocker, 'utf8'), 'a file where the data folder would go', 'nothing is lost');
});

step('a fixed port that is taken', async () => {
  const taken = createServer();
  await new Promise((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const { port } = taken.address();
  try {
    const message = await errorPage(localPlace('port-taken', { TASKYARD_DESKTOP_PORT: String(port) }));
    assert.match(message, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*another program uses port ${port}\\. Quit it, or set TASKYARD_DESKTOP_PORT`));
  } finally {
    taken.close();
  }
});

step('a fixed port that is not a port', async () => {
  const message = await errorPage(localPlace('port-banana', { TASKYARD_DESKTOP_PORT: 'banana' }));
  assert.equal(message, 'TASKYARD_DESKTOP_PORT is “banana”, not a port number (1–65535, or 0 for any)');
});

step('a second launch hands over to the first over D-Bus and exits', async () => {
  const place = localPlace('second-dbus');
  app = await Session.start(APP, place.env);
  await app.waitFor('the projects page', () => document.body.innerText.includes('No projects yet'));
  const first = appPid(APP, place.root);
  const second = spawn(APP, [], { env: place.env, stdio: 'ignore' });
  const code = await new Promise((resolve) => second.once('exit', resolve));
  assert.equal(code, 0, 'the second launch exits cleanly');
  assert.equal(appPid(APP, place.root), first, 'the first app goes on');
  assert.ok(await app.run(() => document.body.innerText.includes('No projects yet')), 'the first window still shows the board');
});

step('without D-Bus, a second launch finds the data folder in use and says so', async () => {
  const place = localPlace('second-no-dbus');
  app = await Session.start(APP, place.env);
  await app.waitFor('the projects page', () => document.body.innerText.includes('No projects yet'));
  const first = app;
  const firstPid = appPid(APP, place.root);
  try {
    const message = await errorPage({ ...place, env: { ...place.env, DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(place.root, 'no-bus')}` } });
    assert.match(message, new RegExp(`Taskyard is already open on this computer \\(process ${firstPid}\\), with the data folder`));
    await app.screenshot(screenshotPath('desktop-error-already-open'));
    await app.end();
  } finally {
    app = first;
  }
  await sleep(200);
  assert.ok(await app.run(() => document.body.innerText.includes('No projects yet')), 'the first window still shows the board');
});
