// The agents' status on this computer, and choosing an agent's program in Settings: a path
// that is not a program is refused in words and nothing changes; a program is kept, shown
// with its version, used by the server at once, and remembered at the next launch.
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { APP, freshHome, gone, remember, screenshotPath, sleep, stepper, windowTitles } from './desktop.mjs';
import { Session } from './webdriver.mjs';

const place = freshHome('agents');
remember(place, { choice: { mode: 'local' } });
const notes = join(place.root, 'notes.txt');
writeFileSync(notes, 'not a program\n');
chmodSync(notes, 0o644);
const program = join(place.root, 'tools', 'claude');
const state = { failed: false };
let app;

after(async () => {
  await app?.end();
  if (state.failed) console.error(`--- the app's output ---\n${app?.log.text}`);
  assert.deepEqual(await gone(APP, place.root), [], 'nothing of the app survives');
  if (!state.failed) rmSync(place.root, { recursive: true, force: true });
});

// One app across the steps: each goes on from where the last one left the window.
const step = stepper('agents', state);

/** What the Claude Code entry of the agents section says. */
const claude = () => {
  const item = document.querySelector('[data-agent="claude"]');
  if (!item) return null;
  const fact = (name) => [...item.querySelectorAll('dt')].find((d) => d.textContent === name)?.nextElementSibling?.textContent;
  return {
    state: item.querySelector('.agent-state')?.textContent,
    program: fact('Program'),
    found: fact('Found at'),
    version: fact('Version'),
    // Not `error`: the driver would take an answer with an `error` for its own failure.
    refusal: item.querySelector('[role="alert"]')?.textContent ?? null,
  };
};

/** Waits until what the Claude Code entry says passes `ok` (checked here, not in the page). */
async function until(what, ok, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await app.run(claude).catch(() => null);
    if (last && ok(last)) return last;
    if (Date.now() > deadline) throw new Error(`waited for ${what}; the entry says ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

const input = () => document.querySelector('[data-agent="claude"] input');

async function openSettings() {
  await app.waitFor('the projects page', () => document.body.innerText.includes('No projects yet'));
  await app.click(await app.byText('Settings'));
  return until('the agents section', () => true);
}

step('the settings show each agent as a run finds it', async () => {
  app = await Session.start(APP, place.env);
  const shown = await openSettings();
  assert.equal(shown.program, 'claude', 'looked up in the agents’ PATH');
  assert.ok(['Ready', 'Not found', 'Cannot run'].includes(shown.state), JSON.stringify(shown));
});

step('a path that is not a program is refused in words, and nothing changes', async () => {
  await app.type(await app.element('the program field', input), notes);
  await app.click(await app.element('Use this path', () => document.querySelector('[data-agent="claude"] button[type="submit"]')));
  const refused = (await until('the refusal', (c) => c.refusal)).refusal;
  assert.equal(refused, `Not changed: ${notes} is not executable: make it so (chmod +x), or choose the program itself rather than a file beside it`);
  await app.screenshot(screenshotPath('desktop-agents-refused'));
  await app.type(await app.element('the program field', input), 'claude');
  await app.click(await app.element('Use this path', () => document.querySelector('[data-agent="claude"] button[type="submit"]')));
  await until('the second refusal', (c) => c.refusal?.includes('is not a full path'));
  assert.equal((await app.run(claude)).program, 'claude', 'the program is unchanged');
  let settings = {};
  try {
    settings = JSON.parse(readFileSync(place.configFile, 'utf8'));
  } catch {
    // no file: nothing was written
  }
  assert.equal(settings.programs, undefined, 'nothing was remembered');
});

step('a program is kept, shown with its version and remembered', async () => {
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(place.root, 'tools'), { recursive: true });
  writeFileSync(program, "#!/bin/sh\nif [ \"$1\" = --version ]; then echo '9.9.9 (Claude Code)'; fi\n");
  chmodSync(program, 0o755);
  await app.type(await app.element('the program field', input), program);
  await app.click(await app.element('Use this path', () => document.querySelector('[data-agent="claude"] button[type="submit"]')));
  const shown = await until('the chosen program', (c) => c.version === '9.9.9 (Claude Code)');
  assert.deepEqual(shown, { state: 'Ready', program, found: program, version: '9.9.9 (Claude Code)', refusal: null });
  assert.equal(JSON.parse(readFileSync(place.configFile, 'utf8')).programs.claude, program);
  await app.screenshot(screenshotPath('desktop-agents-chosen'));
});

step('the next launch uses it, and "Find it in PATH" goes back', async () => {
  await app.end();
  app = await Session.start(APP, place.env);
  const shown = await openSettings();
  assert.equal(shown.program, program);
  assert.equal(shown.version, '9.9.9 (Claude Code)');
  await app.click(await app.byText('Find it in PATH'));
  await until('the PATH lookup', (c) => c.program === 'claude');
  assert.equal(JSON.parse(readFileSync(place.configFile, 'utf8')).programs, undefined);
});

step('"Choose…" opens the native file picker', async () => {
  await app.click(await app.element('Choose…', () => document.querySelector('[data-agent="claude"] button[type="button"]')));
  const deadline = Date.now() + 15_000;
  while (!windowTitles().includes('Choose the claude program')) {
    assert.ok(Date.now() < deadline, `no picker among the windows: ${windowTitles().join(', ')}`);
    await sleep(200);
  }
  await app.screenshot(screenshotPath('desktop-agents-picker'));
  // Closing the app with the picker open leaves nothing behind (checked after all steps).
});
