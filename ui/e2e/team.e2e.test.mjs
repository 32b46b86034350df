// The browser end-to-end test of the team mode: the real server with TASKYARD_AUTH=team, two
// people in two fresh browser contexts. The admin registers (the first account), creates an
// invite; the second person registers with the invite link; each adds a project (a real git
// repository); the member sees only their own project (admins see every one); a reload keeps
// both signed in (the refresh cookie); signing out ends the session. Screenshots of the sign-in
// page, the admin console and a board go to e2e/screenshots/team-*.png.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
const TIMEOUT = 20_000;

const tmp = mkdtempSync(join(tmpdir(), 'taskyard-team-e2e-'));
let server;
let serverLog = { text: '' };
let baseUrl;
let browser;
const serverErrors = [];
const pageErrors = [];
const pageLog = [];
let failed = false;

function makeRepo(name) {
  const dir = join(tmp, name);
  mkdirSync(dir);
  const env = { ...process.env, GIT_AUTHOR_NAME: 'e2e', GIT_AUTHOR_EMAIL: 'e2e@example.com', GIT_COMMITTER_NAME: 'e2e', GIT_COMMITTER_EMAIL: 'e2e@example.com' };
  const git = (...args) => execFileSync('git', ['-C', dir, ...args], { env });
  git('init', '-q', '-b', 'main');
  writeFileSync(join(dir, 'README.md'), `# ${name}\n`);
  git('add', 'README.md');
  git('-c', 'commit.gpgsign=false', 'commit', '-q', '-m', 'Initial commit');
  return dir;
}

function startServer() {
  return launchServer(BIN, ['--data-dir', join(tmp, 'data'), 'serve', '--port', '0'], { TASKYARD_AUTH: 'team', TASKYARD_JWT_SECRET: randomBytes(32).toString('hex') }, (child, log) => {
    server = child;
    serverLog = log;
  });
}

process.on('exit', () => server?.kill('SIGKILL'));

async function stopServer() {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

async function newPage(who) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'light', reducedMotion: 'reduce' });
  context.setDefaultTimeout(TIMEOUT);
  const p = await context.newPage();
  p.on('response', (response) => {
    if (response.status() >= 500) serverErrors.push(`${who}: ${response.status()} ${response.request().method()} ${response.url()}`);
    if (response.status() >= 400) pageLog.push(`${who}: ${response.status()} ${response.request().method()} ${response.url()}`);
  });
  p.on('pageerror', (error) => pageErrors.push(`${who}: ${error.message}`));
  p.on('console', (message) => pageLog.push(`${who}: console.${message.type()}: ${message.text()}`));
  return p;
}

let admin;
let member;
let inviteUrl;
const repoA = makeRepo('alpha-repo');
const repoB = makeRepo('beta-repo');
const PASSWORD_A = 'correct horse battery';
const PASSWORD_B = 'another long secret';
const MEMBER_SECRET = 'ghp_TESTe2eMEMBERsecret0123456789abcd';

before(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const url = await startServer();
  baseUrl = new URL(url).origin;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await stopServer();
  if (failed) process.stderr.write(`--- page log ---\n${pageLog.join('\n')}\n--- server output ---\n${serverLog.text}\n`);
  rmSync(tmp, { recursive: true, force: true });
});

function step(name, fn) {
  test(name, async () => {
    try {
      await fn();
    } catch (error) {
      failed = true;
      for (const [who, p] of [['admin', admin], ['member', member]]) {
        await p?.screenshot({ path: join(SCREENSHOTS, `team-failed-${who}-${name.replace(/\W+/g, '-')}.png`) }).catch(() => undefined);
      }
      throw error;
    }
  });
}

async function addProject(p, repo, name) {
  await p.getByLabel('Repository path').fill(repo);
  await p.getByLabel('Name (optional)').first().fill(name);
  await p.getByRole('button', { name: 'Add project' }).click();
  await p.getByRole('heading', { name, level: 2 }).waitFor();
  await p.getByText('No tasks yet').waitFor();
}

async function projectNames(p) {
  await p.goto(`${baseUrl}/#/`);
  await p.getByRole('heading', { name: 'Projects' }).waitFor();
  await p.locator('.project-name').first().waitFor();
  return (await p.locator('.project-name').allTextContents()).map((text) => text.trim()).sort();
}

step('the first account registers and becomes the admin', async () => {
  admin = await newPage('admin');
  await admin.goto(`${baseUrl}/`);
  await admin.getByRole('heading', { name: 'Create the admin account' }).waitFor();
  await admin.getByLabel('E-mail').fill('ada@example.com');
  await admin.getByLabel('Name', { exact: true }).fill('Ada Admin');
  await admin.getByLabel('Password').fill(PASSWORD_A);
  await admin.getByRole('button', { name: 'Create account' }).click();
  await admin.getByRole('heading', { name: 'Projects' }).waitFor();
  await admin.getByRole('button', { name: /Ada Admin/ }).waitFor();
  await admin.getByRole('link', { name: 'Admin', exact: true }).waitFor();
});

step('the admin adds a project and sees its board', async () => {
  await addProject(admin, repoA, 'alpha');
  await admin.getByRole('button', { name: 'Members' }).click();
  const dialog = admin.getByRole('dialog', { name: 'Members' });
  await dialog.getByText('ada@example.com').waitFor();
  await admin.screenshot({ path: join(SCREENSHOTS, 'team-members.png') });
  await dialog.getByRole('button', { name: 'Close' }).click();
  await admin.screenshot({ path: join(SCREENSHOTS, 'team-board.png') });
});

step('the admin creates an invite in the admin console', async () => {
  await admin.goto(`${baseUrl}/#/admin`);
  await admin.getByRole('heading', { name: 'Admin console' }).waitFor();
  await admin.getByRole('cell', { name: 'ada@example.com' }).waitFor();
  await admin.screenshot({ path: join(SCREENSHOTS, 'team-admin-users.png') });
  await admin.getByRole('tab', { name: 'Invites' }).click();
  await admin.getByRole('button', { name: 'Create invite' }).click();
  const link = admin.getByLabel('Invite link');
  await link.waitFor();
  inviteUrl = await link.inputValue();
  assert.match(inviteUrl, new RegExp(`^${baseUrl}/#/register\\?invite=.+`));
  await admin.getByRole('cell', { name: 'open' }).waitFor();
  await admin.screenshot({ path: join(SCREENSHOTS, 'team-admin-invites.png') });
  await admin.getByRole('tab', { name: 'Audit log' }).click();
  await admin.getByRole('cell', { name: /register/ }).first().waitFor();
  await admin.screenshot({ path: join(SCREENSHOTS, 'team-admin-audit.png') });
  // The server-wide settings: the run queue's counts and settings, changed by the admin.
  await admin.getByRole('tab', { name: 'Settings' }).click();
  const queue = admin.getByRole('region', { name: 'Run queue' });
  await queue.getByLabel('Queue counts').waitFor();
  await queue.getByLabel('Runs at once per user').fill('2');
  await queue.getByRole('button', { name: 'Save queue settings' }).click();
  await queue.getByText('Saved.').waitFor();
  // Members may add repositories from the server's disk only under the project folder.
  const security = admin.getByRole('region', { name: 'Security' });
  await security.getByLabel('Project folder').fill(tmp);
  const saved = admin.waitForResponse((r) => r.url().endsWith('/api/settings/security') && r.request().method() === 'PUT');
  await security.getByRole('button', { name: 'Save security settings' }).click();
  assert.equal((await saved).status(), 200);
  await admin.screenshot({ path: join(SCREENSHOTS, 'team-admin-settings.png') });
});

step('a second person registers with the invite link in a fresh browser', async () => {
  member = await newPage('member');
  await member.goto(inviteUrl);
  await member.getByRole('heading', { name: 'Create your account' }).waitFor();
  assert.equal(await member.getByLabel('Invite code').inputValue(), new URL(inviteUrl.replace('/#/', '/')).searchParams.get('invite'));
  await member.getByLabel('E-mail').fill('bob@example.com');
  await member.getByLabel('Name', { exact: true }).fill('Bob Member');
  await member.getByLabel('Password').fill(PASSWORD_B);
  await member.getByRole('button', { name: 'Create account' }).click();
  await member.getByRole('heading', { name: 'Projects' }).waitFor();
  await member.getByText('No projects yet').waitFor();
  await member.getByRole('button', { name: /Bob Member/ }).waitFor();
  assert.equal(await member.getByRole('link', { name: 'Admin', exact: true }).count(), 0);
});

step('a member keeps a credential of their own, shown masked', async () => {
  await member.getByRole('link', { name: 'Credentials' }).click();
  await member.getByRole('heading', { name: 'Credentials', level: 2 }).waitFor();
  const mine = member.getByRole('region', { name: 'Your credentials' });
  await mine.getByLabel('Name').selectOption('GITHUB_TOKEN');
  await mine.getByLabel('Value').fill(MEMBER_SECRET);
  await mine.getByRole('button', { name: 'Set value' }).click();
  const row = mine.getByRole('row', { name: /GITHUB_TOKEN/ });
  await row.waitFor();
  const masked = (await row.locator('.credential-masked').textContent()) ?? '';
  assert.ok(masked.length > 0 && !masked.includes(MEMBER_SECRET), `masked: ${masked}`);
  assert.ok(!(await member.content()).includes(MEMBER_SECRET), 'the secret is in the page');
  // Members do not manage the global tier.
  assert.equal(await member.getByRole('region', { name: 'Global credentials' }).count(), 0);
  await member.goto(`${baseUrl}/#/`);
  await member.getByRole('heading', { name: 'Projects' }).waitFor();
});

step('each sees only their own projects (the admin sees every one)', async () => {
  await addProject(member, repoB, 'beta');
  assert.deepEqual(await projectNames(member), ['beta']);
  assert.deepEqual(await projectNames(admin), ['alpha', 'beta']);
});

step('a reload keeps each signed in', async () => {
  for (const [p, name] of [[admin, 'Ada Admin'], [member, 'Bob Member']]) {
    await p.reload();
    await p.getByRole('button', { name: new RegExp(name) }).waitFor();
    await p.locator('.project-name').first().waitFor();
  }
  assert.deepEqual(await projectNames(member), ['beta']);
});

step('signing out ends the session, and signing in again works', async () => {
  await member.getByRole('button', { name: /Bob Member/ }).click();
  await member.getByRole('button', { name: 'Sign out' }).click();
  await member.getByRole('heading', { name: 'Sign in' }).waitFor();
  await member.reload();
  await member.getByRole('heading', { name: 'Sign in' }).waitFor();
  await member.getByLabel('E-mail').fill('bob@example.com');
  await member.getByLabel('Password').fill('wrong password!');
  await member.getByRole('button', { name: 'Sign in' }).click();
  await member.getByRole('alert').waitFor();
  await member.screenshot({ path: join(SCREENSHOTS, 'team-login.png') });
  await member.getByLabel('Password').fill(PASSWORD_B);
  await member.getByRole('button', { name: 'Sign in' }).click();
  await member.getByRole('button', { name: /Bob Member/ }).waitFor();
  assert.deepEqual(await projectNames(member), ['beta']);
});

step('no server errors, no page errors', () => {
  assert.deepEqual(serverErrors, []);
  assert.deepEqual(pageErrors, []);
});
