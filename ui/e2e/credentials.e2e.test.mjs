// The credentials UI in a real browser, local mode: set a global GITHUB_TOKEN on Settings →
// Credentials, see it masked, open a project's effective set and see it there "from global";
// the secret itself must appear nowhere in the page's HTML. Same harness as app.e2e.test.mjs
// (the real server binary, Debian's Chromium through playwright-core).
//
//   TASKYARD_BIN  the server binary (default $CARGO_TARGET_DIR/debug/taskyard)
//   CHROMIUM      the browser (default /usr/bin/chromium)
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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
const SECRET = 'ghp_TESTe2e0123456789abcdefghijklmnopqrstuvwxyzABCD';

const tmp = mkdtempSync(join(tmpdir(), 'taskyard-e2e-credentials-'));
const repo = join(tmp, 'repo');
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
  mkdirSync(repo);
  const env = { ...process.env, GIT_AUTHOR_NAME: 'e2e', GIT_AUTHOR_EMAIL: 'e2e@example.com', GIT_COMMITTER_NAME: 'e2e', GIT_COMMITTER_EMAIL: 'e2e@example.com' };
  execFileSync('git', ['-C', repo, 'init', '-q', '-b', 'main'], { env });
  execFileSync('git', ['-C', repo, '-c', 'commit.gpgsign=false', 'commit', '-q', '--allow-empty', '-m', 'Initial commit'], { env });

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

test('a global credential is set write-only, shown masked and listed in the effective set from global', async () => {
  try {
    // Settings → Credentials from the header.
    await page.getByRole('link', { name: 'Credentials' }).click();
    await page.getByRole('heading', { name: 'Credentials', level: 2 }).waitFor();
    const global = page.getByRole('region', { name: 'Global credentials' });
    await global.getByLabel('Name').selectOption('GITHUB_TOKEN');
    const value = global.getByLabel('Value');
    assert.equal(await value.getAttribute('type'), 'password');
    await value.fill(SECRET);
    await global.getByRole('button', { name: 'Set value' }).click();
    const row = global.getByRole('row', { name: /GITHUB_TOKEN/ });
    await row.waitFor();
    const masked = (await row.locator('.credential-masked').textContent()) ?? '';
    assert.ok(masked.length > 0 && !masked.includes(SECRET), `masked: ${masked}`);
    assert.equal(await global.getByLabel('New value').inputValue(), '');
    assert.ok(!(await page.content()).includes(SECRET), 'the secret is in the settings page HTML');
    await shoot('credentials-settings-light');

    // A project's effective set shows it from global.
    const added = await page.request.post(new URL('/api/projects', page.url()).href, { data: { path: repo } });
    assert.equal(added.status(), 201, await added.text());
    const project = await added.json();
    await page.goto(new URL(`/#/projects/${project.id}`, page.url()).href);
    await page.getByRole('button', { name: 'Credentials' }).click();
    const effective = page.getByRole('table', { name: 'Effective credentials' });
    const github = effective.getByRole('row', { name: /GITHUB_TOKEN/ });
    await github.waitFor();
    assert.match((await github.textContent()) ?? '', /from global/);
    assert.ok((await github.textContent())?.includes(masked), 'the effective set shows the same masked value');
    assert.ok(!(await page.content()).includes(SECRET), 'the secret is in the project page HTML');
    await shoot('credentials-effective-light');
    // The dialog is modal: close it, switch the theme with the header's toggle, open it again.
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Switch to dark theme' }).click();
    await page.getByRole('button', { name: 'Credentials' }).click();
    await effective.getByRole('row', { name: /GITHUB_TOKEN/ }).waitFor();
    await shoot('credentials-effective-dark');

    assert.deepEqual(serverErrors, []);
    assert.deepEqual(pageErrors, []);
  } catch (error) {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'failed-credentials.png') }).catch(() => undefined);
    process.stderr.write(`--- server output ---\n${serverLog.text}\n`);
    throw error;
  }
});
