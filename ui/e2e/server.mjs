// Starting the real server binary for the end-to-end tests: resolves with the URL it prints,
// and keeps everything it wrote for a failure's report.
import { spawn } from 'node:child_process';

/**
 * Spawns `bin` with `args` and extra `env`, calls `onSpawn(child, log)` at once (so the caller
 * can kill it however the test ends; `log.text` grows with the server's output), and resolves
 * with the `Open http://…` URL it prints.
 */
export function launchServer(bin, args, env, onSpawn) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn', ...env },
    });
    const log = { text: '' };
    onSpawn(child, log);
    const timer = setTimeout(() => reject(new Error(`the server printed no URL in 15 s:\n${log.text}`)), 15_000);
    const onData = (chunk) => {
      log.text += chunk;
      const match = /Open (http:\/\/\S+)/.exec(log.text);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`could not start ${bin}: ${error.message} (build it: cargo build -p taskyard-server --bin taskyard)`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}) before it was ready:\n${log.text}`));
    });
  });
}

/** Chromium's flags for the tests: headless, no sandbox (CI runs as root), nothing phoning home. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
