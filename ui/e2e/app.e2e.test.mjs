// The browser end-to-end test: the real server binary, a real git repository, Debian's
// Chromium driven by playwright-core. It walks through what a person does: add the repository,
// create tasks, start one and watch its log, stop another, open the diff, merge, reload; two
// tabs stay in sync; cards move by pointer. Screenshots of the board and the task view in both
// themes go to e2e/screenshots/ (not committed).
//
//   TASKYARD_BIN      the server binary (default $CARGO_TARGET_DIR/debug/taskyard, with
//                     CARGO_TARGET_DIR defaulting to ~/.cache/taskyard/target)
//   CHROMIUM          the browser (default /usr/bin/chromium)
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

/** Generous for a loaded CI machine; every wait ends as soon as its condition holds. */
const WAIT = { timeout: 20_000 };

const tmp = mkdtempSync(join(tmpdir(), 'taskyard-e2e-'));
const repo = join(tmp, 'repo');
let server;
let serverLog = { text: '' };
let baseUrl;
let context;
let page;
const serverErrors = [];
const pageErrors = [];
/** The page's console and failed requests, printed when a step fails. */
const pageLog = [];

function git(...args) {
  return execFileSync('git', ['-C', repo, ...args], {
    encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 'e2e', GIT_AUTHOR_EMAIL: 'e2e@example.com', GIT_COMMITTER_NAME: 'e2e', GIT_COMMITTER_EMAIL: 'e2e@example.com' },
  });
}

/** Starts the server on a free port and resolves with the URL it prints (token included). */
function startServer() {
  return launchServer(BIN, ['--data-dir', join(tmp, 'data'), 'serve', '--port', '0'], {}, (child, log) => {
    server = child;
    serverLog = log;
  });
}

// However this process ends, the server it started ends too.
process.on('exit', () => server?.kill('SIGKILL'));
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    server?.kill('SIGKILL');
    process.exit(130);
  });
}

async function stopServer() {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

function watch(p) {
  p.on('response', (response) => {
    if (response.status() >= 500) serverErrors.push(`${response.status()} ${response.request().method()} ${response.url()}`);
  });
  p.on('pageerror', (error) => pageErrors.push(error.message));
  p.on('console', (message) => pageLog.push(`console.${message.type()}: ${message.text()}`));
  p.on('requestfailed', (request) => pageLog.push(`request failed: ${request.method()} ${request.url()} ${request.failure()?.errorText ?? ''}`));
  p.on('response', (response) => {
    if (response.status() >= 400) pageLog.push(`${response.status()} ${response.request().method()} ${response.url()}`);
  });
}

before(async () => {
  mkdirSync(repo);
  git('init', '-q', '-b', 'main');
  git('-c', 'commit.gpgsign=false', 'commit', '-q', '--allow-empty', '-m', 'Initial commit');
  execFileSync('sh', ['-c', `printf '# Demo\\n' > ${JSON.stringify(join(repo, 'README.md'))}`]);
  git('add', 'README.md');
  git('-c', 'commit.gpgsign=false', 'commit', '-q', '-m', 'Add a README');

  const url = await startServer();
  baseUrl = new URL(url).origin;
  context = await chromium.launchPersistentContext(join(tmp, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1440, height: 900 },
    colorScheme: 'light',
    // No transitions half-way through a screenshot.
    reducedMotion: 'reduce',
  });
  context.setDefaultTimeout(WAIT.timeout);
  page = context.pages()[0] ?? (await context.newPage());
  watch(page);
  // The printed URL sets the session cookie and redirects to the app.
  await page.goto(url);
  await page.getByRole('heading', { name: 'Projects' }).waitFor();
});

after(async () => {
  await context?.close().catch(() => undefined);
  await stopServer();
  if (failed) {
    process.stderr.write(`--- page log ---\n${pageLog.join('\n')}\n--- server output ---\n${serverLog.text}\n`);
  }
  rmSync(tmp, { recursive: true, force: true });
});

/** The board's address, once the project exists. */
let boardUrl;
let failed = false;

/**
 * A test step. Each starts from the board (so one failure does not topple the next) and leaves
 * a screenshot of the page when it fails.
 */
function step(name, fn) {
  test(name, async () => {
    try {
      if (boardUrl) await gotoBoard();
      await fn();
    } catch (error) {
      failed = true;
      mkdirSync(SCREENSHOTS, { recursive: true });
      const file = join(SCREENSHOTS, `failed-${name.replace(/\W+/g, '-')}.png`);
      await page.screenshot({ path: file }).catch(() => undefined);
      throw error;
    }
  });
}

async function gotoBoard() {
  await page.unrouteAll({ behavior: 'ignoreErrors' });
  await page.goto(boardUrl);
  await page.getByRole('region', { name: 'Backlog', exact: true }).waitFor();
}

const board = () => page.getByRole('main', { name: 'Board' });
const column = (name) => page.getByRole('region', { name, exact: true });
const card = (title) => page.locator('[data-card-id]', { hasText: title });
const log = () => page.getByRole('region', { name: 'Run log' });

async function createTask(p, title, description, command) {
  // Shortcuts work once the board is there.
  await p.getByRole('region', { name: 'Backlog', exact: true }).waitFor();
  await p.keyboard.press('n');
  const dialog = p.getByRole('dialog', { name: 'New task' });
  await dialog.getByLabel('Title').fill(title);
  await dialog.getByLabel('Description').fill(description);
  await dialog.getByLabel('Agent command').fill(command);
  await dialog.getByRole('button', { name: 'Create task' }).click();
  await dialog.waitFor({ state: 'detached' });
  await p.locator('[data-card-id]', { hasText: title }).waitFor();
}

async function openTask(title) {
  await card(title).click();
  await page.getByRole('heading', { name: title, level: 2 }).waitFor();
}

async function backToBoard() {
  await page.keyboard.press('Escape');
  await board().waitFor();
}

/** The server's answer to the next card move. */
function savedMove() {
  return page.waitForResponse((r) => r.request().method() === 'PATCH' && /\/api\/tasks\//.test(r.url()) && r.ok());
}

async function screenshot(name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
}

async function setTheme(theme) {
  const current = await page.evaluate(() => globalThis.document.documentElement.dataset.theme);
  if (current !== theme) await page.getByRole('button', { name: `Switch to ${theme} theme` }).click();
}

step('adds the repository as a project', async () => {
  await page.getByText('No projects yet').waitFor();
  await page.getByLabel('Repository path').fill(repo);
  await page.getByRole('button', { name: 'Add project' }).click();
  await board().waitFor();
  await page.getByRole('heading', { name: 'repo', level: 2 }).waitFor();
  await page.getByText('No tasks yet').waitFor();
  boardUrl = page.url();
});

step('creates a task and watches its log arrive live', async () => {
  await createTask(
    page,
    'Write a greeting',
    'Say hello in hello.txt',
    'for i in 1 2 3 4 5 6 7 8; do echo "line $i"; sleep 0.4; done; echo "$TASKYARD_PROMPT" > hello.txt; ' +
      `printf 'def greet(name):\\n    # Say hello\\n    return f"Hello, {name}!"  # 1 line\\n' > greet.py`,
  );
  assert.equal(await column('Backlog').locator('[data-card-id]').count(), 1);
  await openTask('Write a greeting');
  await page.getByText('Nothing has run yet').waitFor();
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await log().getByText('line 2', { exact: true }).waitFor();
  // Lines show while the agent is still printing, not all at the end.
  assert.equal(await log().getByText('line 8', { exact: true }).count(), 0, 'the log arrived only at the end');
  assert.equal(await log().locator('.log-state').textContent(), 'live');
  await log().getByText('line 8', { exact: true }).waitFor();
  await log().getByText('finished').waitFor();
  await page.getByRole('region', { name: 'Run 1' }).locator('.chip[data-run="succeeded"]').waitFor();
  // Every line exactly once, in order.
  const lines = await log().locator('.log-kind-stdout').allTextContents();
  assert.deepEqual(lines, [1, 2, 3, 4, 5, 6, 7, 8].map((i) => `line ${i}`));
  await backToBoard();
  await card('Write a greeting').locator('.chip[data-run="succeeded"]').waitFor();
  assert.equal(await column('In review').locator('[data-card-id]').count(), 1);
});

step('stops a long-running run and sees it cancelled', async () => {
  await createTask(page, 'Count forever', 'Keep counting', 'i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.2; done');
  await openTask('Count forever');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await log().getByText('tick 3', { exact: true }).waitFor();
  await page.getByRole('button', { name: 'Stop', exact: true }).click();
  await page.getByRole('region', { name: 'Run 1' }).locator('.chip[data-run="cancelled"]').waitFor();
  await log().getByText('finished').waitFor();
  await page.getByRole('button', { name: 'Start a new run' }).waitFor();
  await backToBoard();
  await column('Cancelled').locator('[data-card-id]', { hasText: 'Count forever' }).waitFor();
});

step('opens the diff of the finished run and merges it', async () => {
  await openTask('Write a greeting');
  await page.getByRole('tab', { name: /Changes/ }).click();
  const files = page.getByRole('list', { name: 'Files changed' });
  await files.getByText('hello.txt').waitFor();
  await files.getByText('greet.py').waitFor();
  await page.locator('.diff-add .tok-keyword', { hasText: 'def' }).waitFor();
  await page.locator('.diff-add', { hasText: 'Say hello in hello.txt' }).waitFor();
  // After the merge the branch has nothing main lacks, so its diff is empty: take the pictures now.
  for (const theme of ['dark', 'light']) {
    await setTheme(theme);
    await screenshot(`task-diff-${theme}`);
  }
  await page.getByRole('button', { name: 'Merge into main' }).click();
  const outcome = page.locator('.outcome-ok');
  await outcome.waitFor();
  assert.match(await outcome.textContent(), /^Merged taskyard\/write-a-greeting into main/);
  // The file is on main now.
  assert.equal(git('show', 'main:hello.txt').trim(), 'Say hello in hello.txt');
  await page.locator('.task-head .chip[data-status="done"]').waitFor();
});

step('shows the same state after a reload', async () => {
  await openTask('Write a greeting');
  await page.reload();
  await page.getByRole('heading', { name: 'Write a greeting', level: 2 }).waitFor();
  await page.locator('.task-head .chip[data-status="done"]').waitFor();
  await log().getByText('line 8', { exact: true }).waitFor();
  assert.equal(await log().locator('.log-kind-stdout').count(), 8);
  await backToBoard();
  await column('Done').locator('[data-card-id]', { hasText: 'Write a greeting' }).waitFor();
  await column('Cancelled').locator('[data-card-id]', { hasText: 'Count forever' }).waitFor();
});

step('keeps two tabs in sync', async () => {
  const other = await context.newPage();
  watch(other);
  await other.goto(page.url());
  await other.getByRole('region', { name: 'Backlog', exact: true }).waitFor();
  await createTask(page, 'Made in tab one', 'Appears in tab two', 'echo one');
  await other.locator('[data-card-id]', { hasText: 'Made in tab one' }).waitFor();
  await createTask(other, 'Made in tab two', 'Appears in tab one', 'echo two');
  await card('Made in tab two').waitFor();
  await other.close();
});

step('moves a card by dragging it', async () => {
  const from = await card('Made in tab one').boundingBox();
  const to = await column('In progress').boundingBox();
  assert.ok(from && to);
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(from.x + from.width / 2 + 20, from.y + from.height / 2 + 10, { steps: 4 });
  await page.mouse.move(to.x + to.width / 2, to.y + 60, { steps: 12 });
  // The marker shows where the card will land: in the target column, before letting go.
  await column('In progress').locator('.drop-marker').waitFor();
  const saved = savedMove();
  await page.mouse.up();
  await column('In progress').locator('[data-card-id]', { hasText: 'Made in tab one' }).waitFor();
  // The server has it too (the card moves at once; the reload waits for the server's answer).
  await saved;
  await page.reload();
  await column('In progress').locator('[data-card-id]', { hasText: 'Made in tab one' }).waitFor();
});

step('moves a card with the keyboard', async () => {
  await card('Made in tab two').focus();
  await page.keyboard.press('Space');
  await page.keyboard.press('ArrowRight');
  const saved = savedMove();
  await page.keyboard.press('Space');
  await column('Queued').locator('[data-card-id]', { hasText: 'Made in tab two' }).waitFor();
  await saved;
  await page.reload();
  await column('Queued').locator('[data-card-id]', { hasText: 'Made in tab two' }).waitFor();
});

step('looks right in both themes', async () => {
  for (const theme of ['light', 'dark']) {
    await page.goto(`${baseUrl}/#/`);
    await setTheme(theme);
    await page.getByRole('link', { name: 'repo' }).waitFor();
    await screenshot(`projects-${theme}`);
    await page.getByRole('link', { name: 'repo' }).click();
    await column('Done').locator('[data-card-id]').first().waitFor();
    await screenshot(`board-${theme}`);
    await openTask('Write a greeting');
    await log().getByText('line 8', { exact: true }).waitFor();
    await screenshot(`task-log-${theme}`);
  }
  await setTheme('light');
});

step('reconnects a dropped log socket without losing or doubling lines', async () => {
  await createTask(page, 'Count to 30', 'Count slowly', 'for i in $(seq 1 30); do echo "n $i"; sleep 0.1; done');
  const urls = [];
  let dropped = false;
  // The first log connection goes through a proxy that cuts it after a few entries, as a
  // flaky network would; the page must come back after the last seq it has.
  await page.routeWebSocket(/\/logs\/ws/, (ws) => {
    urls.push(ws.url());
    const server = ws.connectToServer();
    server.onMessage((message) => {
      ws.send(message);
      if (!dropped && /"seq":\s*6\b/.test(String(message))) {
        dropped = true;
        server.close();
        ws.close({ code: 4000, reason: 'dropped by the test' });
      }
    });
  });
  await openTask('Count to 30');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await log().getByText('n 30', { exact: true }).waitFor();
  await log().getByText('finished').waitFor();
  assert.ok(dropped, 'the connection was never dropped');
  assert.ok(urls.length >= 2, `the log did not reconnect: ${urls.join(', ')}`);
  const resumedAfter = Number(new URL(urls[1]).searchParams.get('after'));
  assert.ok(resumedAfter >= 6, `the reconnect did not resume after the last seq: ${urls[1]}`);
  const lines = await log().locator('.log-kind-stdout').allTextContents();
  assert.deepEqual(lines, Array.from({ length: 30 }, (_, i) => `n ${i + 1}`));
});

step('keeps a long log bounded and pages back by seq', async () => {
  await createTask(page, 'Print a lot', 'Flood the log', 'seq 1 2500');
  await openTask('Print a lot');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await log().getByText('2500', { exact: true }).waitFor();
  await log().getByText('finished').waitFor();
  const rows = log().locator('.log-row');
  assert.equal(await rows.count(), 1000, 'the log view holds more rows than its cap');
  const first = Number(await rows.first().getAttribute('data-seq'));
  assert.ok(first > 1000, `the window does not end at the tail (first seq ${first})`);
  await log().getByRole('button', { name: /Show earlier/ }).click();
  await log().locator(`.log-row[data-seq="${first - 500}"]`).waitFor();
  assert.equal(await rows.count(), 1500);
  // Still in order, each seq once.
  const seqs = (await rows.evaluateAll((els) => els.map((el) => Number(el.getAttribute('data-seq')))));
  assert.deepEqual(seqs, Array.from({ length: 1500 }, (_, i) => first - 500 + i));
});

step('continues a task with a follow-up, as one conversation', async () => {
  await createTask(page, 'Echo the prompt', 'First words', 'echo "prompt: $TASKYARD_PROMPT"');
  await openTask('Echo the prompt');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await log().getByText('prompt: First words', { exact: true }).waitFor();
  await log().getByText('finished').waitFor();
  await page.getByLabel('Follow-up').fill('Second words');
  await page.getByRole('button', { name: 'Send follow-up' }).click();
  await page.getByRole('region', { name: 'Run 2' }).waitFor();
  await log().getByText('prompt: Second words', { exact: true }).waitFor();
  const history = page.getByRole('list', { name: 'Run history' });
  assert.deepEqual(await history.locator('.history-text').allTextContents(), ['First words', 'Second words']);
  assert.deepEqual(await history.locator('.history-who').allTextContents(), ['Task', 'Follow-up']);
  // The first run's log is still there.
  await history.getByRole('button', { name: /Run 1/ }).click();
  await log().getByText('prompt: First words', { exact: true }).waitFor();
});

step('renders a structured agent log', async () => {
  // Entries shaped as the Claude Code adapter writes them (without needing the CLI and an
  // account): the log socket is fed these; everything else is the real page.
  const at = (seq, kind, text, data) => ({ run_id: 'r', seq, ts: new Date(Date.UTC(2026, 0, 1, 12, 0, seq)).toISOString(), kind, text, ...(data ? { data } : {}) });
  const listing = Array.from({ length: 30 }, (_, i) => `-rw-r--r-- 1 agent agent ${100 + i} Jan  1 12:00 file-${i}.txt`).join('\n');
  const entries = [
    at(1, 'system', 'starting `claude -p … --output-format stream-json` on branch taskyard/write-a-greeting'),
    at(2, 'init', 'Claude Code 2.1.0 · model claude-sonnet-4-5 · 4 tools · default · session 6f1c2a9e', {
      event: 'init',
      version: '2.1.0',
      model: 'claude-sonnet-4-5',
      tools: ['Bash', 'Read', 'Write', 'Edit'],
      permission_mode: 'default',
      session_id: '6f1c2a9e-1111-2222-3333-444455556666',
    }),
    at(3, 'thinking', 'The task asks for a greeting in hello.txt. I should look at the repository first, then write the file.', { event: 'thinking' }),
    at(4, 'assistant', "I'll look at the repository first.", { event: 'text' }),
    at(5, 'tool_use', 'Bash: ls -la', { event: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'ls -la', description: 'List the files' } }),
    at(6, 'tool_result', listing.split('\n').slice(0, 8).join('\n') + '\n… 22 more lines', {
      event: 'tool_result', tool_use_id: 'toolu_1', tool_name: 'Bash', is_error: false, content: listing, lines: 30, folded: true,
    }),
    at(7, 'tool_use', 'Write hello.txt', { event: 'tool_use', id: 'toolu_2', name: 'Write', input: { file_path: 'hello.txt', content: 'Say hello in hello.txt\n' } }),
    at(8, 'tool_result', 'File created successfully at: hello.txt', {
      event: 'tool_result', tool_use_id: 'toolu_2', tool_name: 'Write', is_error: false, content: 'File created successfully at: hello.txt',
    }),
    at(9, 'tool_use', 'Task: check the greeting', { event: 'tool_use', id: 'toolu_3', name: 'Task', input: { description: 'check the greeting', prompt: 'Read hello.txt' } }),
    at(10, 'assistant', 'hello.txt reads well.', { event: 'text', parent_tool_use_id: 'toolu_3' }),
    at(11, 'tool_use', 'Bash: cat missing.txt', { event: 'tool_use', id: 'toolu_4', name: 'Bash', input: { command: 'cat missing.txt' } }),
    at(12, 'tool_result', 'cat: missing.txt: No such file or directory', {
      event: 'tool_result', tool_use_id: 'toolu_4', tool_name: 'Bash', is_error: true, content: 'cat: missing.txt: No such file or directory',
    }),
    at(13, 'system', 'API error (529), retrying in 2.0 s (attempt 1 of 10)', { event: 'api_retry', attempt: 1, max_retries: 10 }),
    at(14, 'assistant', 'Done: hello.txt now greets the reader.', { event: 'text' }),
    at(15, 'result', 'done in 4 turns · 18.2 s · $0.0421', {
      event: 'result',
      subtype: 'success',
      is_error: false,
      result: 'Done: hello.txt now greets the reader.',
      num_turns: 4,
      duration_ms: 18_234,
      total_cost_usd: 0.0421,
      usage: { input_tokens: 12_873, output_tokens: 842, cache_read_input_tokens: 9_000 },
    }),
  ];
  await page.routeWebSocket(/\/logs\/ws/, (ws) => {
    ws.send(JSON.stringify({ type: 'entries', entries }));
  });
  for (const theme of ['light', 'dark']) {
    await setTheme(theme);
    await openTask('Write a greeting');
    await log().getByText('Done: hello.txt now greets the reader.').first().waitFor();
    await log().getByText(/4 turns · \$0\.04 · 12,873 in · 842 out tokens · 9,000 cached/).waitFor();
    await log().locator('.log-tool-name', { hasText: 'Write' }).waitFor();
    await log().getByText('Session started · v2.1.0 · claude-sonnet-4-5 · 4 tools · default · session 6f1c2a9e').waitFor();
    await log().locator('.log-nested', { hasText: 'hello.txt reads well.' }).waitFor();
    await screenshot(`log-structured-${theme}`);
    await page.getByRole('log').evaluate((element) => element.scrollTo({ top: 0 }));
    await page.getByRole('button', { name: /Jump to latest/ }).waitFor();
    await screenshot(`log-structured-top-${theme}`);
    await backToBoard();
  }
  await setTheme('light');
});

test('had no server errors and no page errors', () => {
  assert.deepEqual(serverErrors, [], 'responses with a 5xx status');
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
});
