// A team server behind Debian's nginx with a self-signed certificate, as docker/nginx-https.conf
// documents it (only names, ports, paths and the read timeout replaced): Chromium signs in
// through https, the refresh cookie is Secure, the board's and a log's WebSockets run through the
// proxy (wss://), and an idle socket outlives nginx's read timeout because the server pings it.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, launchServer } from './server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR || join(homedir(), '.cache', 'taskyard', 'target');
const BIN = process.env.TASKYARD_BIN || join(targetDir, 'debug', 'taskyard');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const NGINX = process.env.NGINX || '/usr/sbin/nginx';
const SCREENSHOTS = join(here, 'screenshots');
const TIMEOUT = 20_000;
/** nginx's read timeout here: a socket silent for longer would be closed without the pings. */
const READ_TIMEOUT_S = 3;

const tmp = mkdtempSync(join(tmpdir(), 'taskyard-proxy-e2e-'));
let server;
let serverLog = { text: '' };
let proxy;
let proxyLog = '';
let browser;
let context;
let page;
let origin;
const sockets = [];
const serverErrors = [];
const pageErrors = [];
let failed = false;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function makeRepo() {
  const dir = join(tmp, 'repo');
  mkdirSync(dir);
  const env = { ...process.env, GIT_AUTHOR_NAME: 'e2e', GIT_AUTHOR_EMAIL: 'e2e@example.com', GIT_COMMITTER_NAME: 'e2e', GIT_COMMITTER_EMAIL: 'e2e@example.com' };
  const git = (...args) => execFileSync('git', ['-C', dir, ...args], { env });
  git('init', '-q', '-b', 'main');
  writeFileSync(join(dir, 'README.md'), '# behind a proxy\n');
  git('add', 'README.md');
  git('-c', 'commit.gpgsign=false', 'commit', '-q', '-m', 'Initial commit');
  return dir;
}

/** The documented site, pointed at this test's ports and files. */
function nginxConfig({ httpsPort, httpPort, upstream }) {
  const site = readFileSync(join(repoRoot, 'docker', 'nginx-https.conf'), 'utf8');
  const replace = (text, from, to) => {
    assert.ok(text.includes(from), `docker/nginx-https.conf no longer has ${from}`);
    return text.replaceAll(from, to);
  };
  let conf = site;
  conf = replace(conf, 'listen 443 ssl;', `listen 127.0.0.1:${httpsPort} ssl;`);
  conf = replace(conf, 'listen 80;', `listen 127.0.0.1:${httpPort};`);
  conf = replace(conf, 'taskyard.example.com;', 'localhost;');
  conf = replace(conf, '/etc/ssl/certs/taskyard.example.com.pem', join(tmp, 'cert.pem'));
  conf = replace(conf, '/etc/ssl/private/taskyard.example.com.key', join(tmp, 'key.pem'));
  conf = replace(conf, '/var/log/nginx/taskyard.access.log', join(tmp, 'access.log'));
  conf = replace(conf, 'server 127.0.0.1:7777;', `server ${upstream};`);
  conf = replace(conf, 'proxy_read_timeout 120s;', `proxy_read_timeout ${READ_TIMEOUT_S}s;`);
  // The main context Debian's /etc/nginx/nginx.conf would give, with every path in the test's folder.
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `${k}_temp_path ${join(tmp, `${k}-temp`)};`).join('\n  ');
  return `daemon off;
worker_processes 1;
pid ${join(tmp, 'nginx.pid')};
error_log stderr notice;
events { worker_connections 256; }
http {
  ${temp}
  ${conf}
}
`;
}

function startProxy(config) {
  const file = join(tmp, 'nginx.conf');
  writeFileSync(file, config);
  // Run as root, nginx's workers are nobody: they need to reach their temporary folders.
  if (process.getuid?.() === 0) chmodSync(tmp, 0o755);
  proxy = spawn(NGINX, ['-p', tmp, '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  proxy.stdout.setEncoding('utf8').on('data', (d) => (proxyLog += d));
  proxy.stderr.setEncoding('utf8').on('data', (d) => (proxyLog += d));
  proxy.on('error', (error) => (proxyLog += `could not start ${NGINX}: ${error.message} (script/setup --test installs nginx)\n`));
}

async function waitForPort(port) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const open = await new Promise((resolve) => {
      const sock = net.connect({ host: '127.0.0.1', port }, () => {
        sock.destroy();
        resolve(true);
      });
      sock.on('error', () => resolve(false));
    });
    if (open) return;
    if (proxy.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nginx did not listen on ${port}:\n${proxyLog}`);
}

process.on('exit', () => {
  server?.kill('SIGKILL');
  proxy?.kill('SIGKILL');
});

async function stop(child, signal = 'SIGTERM') {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

const repo = makeRepo();

before(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost', '-keyout', join(tmp, 'key.pem'), '-out', join(tmp, 'cert.pem')], { stdio: 'ignore' });
  const [httpsPort, httpPort] = [await freePort(), await freePort()];
  origin = `https://localhost:${httpsPort}`;
  const url = await launchServer(BIN, ['--data-dir', join(tmp, 'data'), 'serve', '--port', '0'], {
    TASKYARD_AUTH: 'team',
    TASKYARD_JWT_SECRET: randomBytes(32).toString('hex'),
    TASKYARD_PUBLIC_URL: origin,
    TASKYARD_TRUSTED_PROXIES: '127.0.0.1',
    TASKYARD_WEBSOCKET_PING_SECONDS: '1',
  }, (child, log) => {
    server = child;
    serverLog = log;
  });
  startProxy(nginxConfig({ httpsPort, httpPort, upstream: new URL(url).host }));
  await waitForPort(httpsPort);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  context = await browser.newContext({ viewport: { width: 1440, height: 900 }, ignoreHTTPSErrors: true, reducedMotion: 'reduce' });
  context.setDefaultTimeout(TIMEOUT);
  page = await context.newPage();
  page.on('response', (response) => {
    if (response.status() >= 500) serverErrors.push(`${response.status()} ${response.request().method()} ${response.url()}`);
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('websocket', (ws) => {
    const entry = { url: ws.url(), frames: 0, closed: false };
    sockets.push(entry);
    ws.on('framereceived', () => (entry.frames += 1));
    ws.on('close', () => (entry.closed = true));
  });
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await stop(server);
  await stop(proxy, 'SIGQUIT');
  if (failed) process.stderr.write(`--- nginx ---\n${proxyLog}\n--- server output ---\n${serverLog.text}\n`);
  rmSync(tmp, { recursive: true, force: true });
});

function step(name, fn) {
  test(name, async () => {
    try {
      await fn();
    } catch (error) {
      failed = true;
      await page?.screenshot({ path: join(SCREENSHOTS, `proxy-failed-${name.replace(/\W+/g, '-')}.png`) }).catch(() => undefined);
      throw error;
    }
  });
}

const boardSockets = () => sockets.filter((s) => new URL(s.url).pathname === '/api/events');
const boardSocket = () => boardSockets().at(-1);

step('the first admin registers through https and the session cookie is Secure', async () => {
  await page.goto(`${origin}/`);
  await page.getByRole('heading', { name: 'Create the admin account' }).waitFor();
  await page.getByLabel('E-mail').fill('ada@example.com');
  await page.getByLabel('Name', { exact: true }).fill('Ada Admin');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Projects' }).waitFor();
  const cookies = await context.cookies(`${origin}/api/auth/refresh`);
  const refresh = cookies.find((c) => c.name === 'taskyard_refresh');
  assert.ok(refresh, `a refresh cookie: ${JSON.stringify(cookies.map((c) => c.name))}`);
  assert.equal(refresh.secure, true, 'the refresh cookie is Secure');
  assert.equal(refresh.httpOnly, true);
  // A reload signs in again with that cookie, over https.
  await page.reload();
  await page.getByRole('heading', { name: 'Projects' }).waitFor();
});

step("a run's log and the board arrive live over wss:// through nginx", async () => {
  await page.getByLabel('Repository path').fill(repo);
  await page.getByRole('button', { name: 'Add project' }).click();
  await page.getByRole('heading', { name: 'repo', level: 2 }).waitFor();
  await page.getByRole('region', { name: 'Backlog', exact: true }).waitFor();
  await page.keyboard.press('n');
  const dialog = page.getByRole('dialog', { name: 'New task' });
  await dialog.getByLabel('Title').fill('Through the proxy');
  await dialog.getByLabel('Description').fill('Count a little');
  await dialog.getByLabel('Agent command').fill('for i in 1 2 3 4 5 6; do echo "step $i"; sleep 0.4; done; echo done > proxied.txt');
  await dialog.getByRole('button', { name: 'Create task' }).click();
  await dialog.waitFor({ state: 'detached' });
  const card = page.locator('[data-card-id]', { hasText: 'Through the proxy' });
  await card.waitFor();
  // The page's board socket (one per page: a reload's socket is the newest).
  const board = boardSocket();
  assert.ok(board?.url.startsWith(`${origin.replace('https:', 'wss:')}/api/events?`), JSON.stringify(sockets.map((s) => s.url.split('?')[0])));
  assert.ok(board.frames > 0, 'the board socket delivered the new card');

  await card.click();
  await page.getByRole('heading', { name: 'Through the proxy', level: 2 }).waitFor();
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  const log = page.getByRole('region', { name: 'Run log' });
  await log.getByText('step 2', { exact: true }).waitFor();
  assert.equal(await log.getByText('step 6', { exact: true }).count(), 0, 'the log arrived only at the end');
  const logSockets = sockets.filter((s) => /^\/api\/runs\/[^/]+\/logs\/ws$/.test(new URL(s.url).pathname));
  assert.ok(logSockets.length >= 1 && logSockets.every((s) => s.url.startsWith('wss://')), JSON.stringify(sockets));
  await log.getByText('step 6', { exact: true }).waitFor();
  await page.getByRole('region', { name: 'Run 1' }).locator('.chip[data-run="succeeded"]').waitFor();
  assert.deepEqual(await log.locator('.log-kind-stdout').allTextContents(), [1, 2, 3, 4, 5, 6].map((i) => `step ${i}`));
  await page.keyboard.press('Escape');
  await page.getByRole('main', { name: 'Board' }).waitFor();
  await card.locator('.chip[data-run="succeeded"]').waitFor();
});

step("an idle board socket outlives nginx's read timeout and still delivers", async () => {
  const board = boardSocket();
  const opened = boardSockets().length;
  assert.ok(board && !board.closed, JSON.stringify(sockets.map((s) => s.url.split('?')[0])));
  const framesBefore = board.frames;
  await page.waitForTimeout((READ_TIMEOUT_S + 2) * 1000);
  // Nothing happened on the board meanwhile: only pings (which pages do not see) kept it open.
  assert.equal(board.frames, framesBefore, 'the board was not idle');
  assert.equal(board.closed, false, 'nginx closed the silent socket: the pings did not pass');
  // A task made elsewhere (the API, as another tab would) appears through that same socket.
  const token = await page.evaluate(async () => {
    const res = await fetch('/api/auth/refresh', { method: 'POST' });
    return (await res.json()).access_token;
  });
  const projects = await page.evaluate(async (t) => (await fetch('/api/projects', { headers: { authorization: `Bearer ${t}` } })).json(), token);
  const status = await page.evaluate(async ([t, id]) => {
    const res = await fetch(`/api/projects/${id}/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'Made while idle', agent: 'custom', agent_config: { command: 'true' } }),
    });
    return res.status;
  }, [token, projects[0].id]);
  assert.equal(status, 201);
  await page.locator('[data-card-id]', { hasText: 'Made while idle' }).waitFor();
  assert.equal(board.closed, false);
  assert.equal(boardSockets().length, opened, 'no reconnect was needed');
  await page.screenshot({ path: join(SCREENSHOTS, 'proxy-board.png') });
});

step('no server errors, no page errors', () => {
  assert.deepEqual(serverErrors, []);
  assert.deepEqual(pageErrors, []);
});
