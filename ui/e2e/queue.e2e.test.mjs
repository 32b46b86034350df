// The run queue's settings in a real browser, local mode: open Settings from the header, see
// the queue's counts, change the limits and waits (entered in minutes, stored in seconds), see
// them saved and still there after a reload, and see the server's 422 message for values it
// refuses. Same harness as app.e2e.test.mjs (the real server binary, Debian's Chromium through
// playwright-core).
//
// Waiting runs (waiting_auth / waiting_quota) are not driven here: only a real agent CLI
// (Claude Code, Codex, Gemini) reports missing credentials or a usage limit, and the `custom`
// agent the e2e tests use cannot; the Vitest tests in src/task cover that UI.
//
//   TASKYARD_BIN  the server binary (default $CARGO_TARGET_DIR/debug/taskyard)
//   CHROMIUM      the browser (default /usr/bin/chromium)
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, launchServer } from './server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const targetDir = process.env.CARGO_TARGET_DIR || join(homedir(), '.cache', 'taskyard', 'target');
const BIN = process.env.TASKYARD_BIN || join(targetDir, 'debug', 'taskyard');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOTS = join(here, 'screenshots');

const tmp = mkdtempSync(join(tmpdir(), 'taskyard-e2e-queue-'));
let server;
let serverLog = { text: '' };
let context;
let page;
const serverErrors = [];
const pageErrors = [];

function startServer() {
  return launchServer(BIN, ['--data-dir', join(tmp, 'data'), 'serve', '--port', '0'], {}, (child, log) => {
    server = child;
    serverLog = log;
  });
}

process.on('exit', () => server?.kill('SIGKILL'));

before(async () => {
  const url = await startServer();
  context = await chromium.launchPersistentContext(join(tmp, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
    colorScheme: 'light',
    reducedMotion: 'reduce',
  });
  context.setDefaultTimeout(20_000);
  page = context.pages()[0] ?? (await context.newPage());
  page.on('response', (response) => {
    if (response.status() >= 500) serverErrors.push(`${response.status()} ${response.request().method()} ${response.url()}`);
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(url);
  await page.getByRole('heading', { name: 'Projects' }).waitFor();
});

after(async () => {
  await context?.close().catch(() => undefined);
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  rmSync(tmp, { recursive: true, force: true });
});

async function shoot(name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

async function queueOnServer() {
  const answer = await page.request.get(new URL('/api/queue', page.url()).href);
  assert.equal(answer.status(), 200, await answer.text());
  return answer.json();
}

test('the queue settings are changed in the browser, saved in seconds, and refused with the server’s reason', async () => {
  try {
    // Settings from the header (local mode: the owner changes the queue).
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Settings', level: 2 }).waitFor();
    const section = page.getByRole('region', { name: 'Run queue' });
    const counts = section.getByLabel('Queue counts');
    await counts.waitFor();
    assert.match((await counts.textContent()) ?? '', /Queued\s*0/);
    assert.match((await counts.textContent()) ?? '', /This server\s*0 of \d+ at once/);
    const attempts = section.getByLabel('Attempts per run');
    assert.equal(await attempts.inputValue(), '20');
    assert.equal(await section.getByLabel('Retry without credentials every').inputValue(), '5');
    await shoot('queue-settings-light');

    // Change two values and save.
    await attempts.fill('7');
    await section.getByLabel('Retry without credentials every').fill('2');
    await section.getByRole('button', { name: 'Save queue settings' }).click();
    await section.getByText('Saved.').waitFor();
    const saved = await queueOnServer();
    assert.equal(saved.settings.max_attempts, 7);
    assert.equal(saved.settings.auth_retry_seconds, 120);

    // Still there after a reload.
    await page.reload();
    await page.getByRole('region', { name: 'Run queue' }).getByLabel('Queue counts').waitFor();
    assert.equal(await page.getByRole('region', { name: 'Run queue' }).getByLabel('Attempts per run').inputValue(), '7');
    assert.equal(await page.getByRole('region', { name: 'Run queue' }).getByLabel('Retry without credentials every').inputValue(), '2');

    // A longest wait below the first one: the server refuses it (422) and says why.
    const again = page.getByRole('region', { name: 'Run queue' });
    await again.getByLabel('Longest usage-limit wait').fill('0.1');
    const refused = page.waitForResponse((r) => r.url().endsWith('/api/queue/settings') && r.request().method() === 'PUT');
    await again.getByRole('button', { name: 'Save queue settings' }).click();
    assert.equal((await refused).status(), 422);
    const alert = again.getByRole('alert');
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? '', /^Not saved: longest usage-limit wait \(quota_max_seconds\)/);
    assert.equal((await queueOnServer()).settings.quota_max_seconds, 14400);

    await page.getByRole('button', { name: 'Switch to dark theme' }).click();
    await shoot('queue-settings-dark');

    assert.deepEqual(serverErrors, []);
    assert.deepEqual(pageErrors, []);
  } catch (error) {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'failed-queue.png') }).catch(() => undefined);
    process.stderr.write(`--- server output ---\n${serverLog.text}\n`);
    throw error;
  }
});
