// The .deb as it installs: unpacked with dpkg-deb -x, its binary starts under Xvfb and serves
// the board (the package's content works, not only the debug build). Its control file names
// what it needs, and it brings a desktop entry and icons.
//
//   TASKYARD_DESKTOP_DEB   the package (default: the one script/desktop-bundle made); without
//                          one this test is skipped, saying so
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { debPackage, unpack } from './bench.mjs';
import { addProject, freshHome, gone, makeRepo, remember, screenshotPath } from './desktop.mjs';
import { Session } from './webdriver.mjs';

let deb = null;
try {
  deb = debPackage();
} catch (error) {
  deb = null;
  console.log(`# no package: ${error.message}`);
}
const place = freshHome('package');
let app;

after(async () => {
  await app?.end();
  rmSync(place.root, { recursive: true, force: true });
});

test('the .deb names its dependencies and brings a desktop entry and icons', { skip: deb ? false : 'no .deb (script/desktop-bundle deb)' }, () => {
  const control = execFileSync('dpkg-deb', ['-f', deb], { encoding: 'utf8' });
  assert.match(control, /^Package: taskyard$/m);
  const depends = /^Depends: (.*)$/m.exec(control)?.[1] ?? '';
  for (const need of ['libwebkit2gtk-4.1-0', 'libgtk-3-0', 'git', 'bubblewrap']) assert.ok(depends.includes(need), `${need} in ${depends}`);
  const files = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8' });
  assert.match(files, / (\.\/)?usr\/bin\/taskyard-desktop$/m);
  assert.match(files, / (\.\/)?usr\/share\/applications\/Taskyard\.desktop$/m);
  assert.match(files, / (\.\/)?usr\/share\/icons\/hicolor\/128x128\/apps\/taskyard-desktop\.png$/m);
});

test('its binary starts under Xvfb and serves the board', { skip: deb ? false : 'no .deb (script/desktop-bundle deb)' }, async () => {
  const bin = unpack(deb, join(place.root, 'installed'));
  const entry = readFileSync(join(place.root, 'installed', 'usr', 'share', 'applications', 'Taskyard.desktop'), 'utf8');
  assert.match(entry, /^Exec=taskyard-desktop$/m);
  const repo = join(place.root, 'repo');
  makeRepo(repo, place.env);
  remember(place, { choice: { mode: 'local' } });
  app = await Session.start(bin, place.env);
  await app.waitFor('the projects page', () => document.body.innerText.includes('No projects yet'));
  await addProject(app, repo);
  await app.waitFor('the columns', () => document.querySelectorAll('.column-title').length >= 4);
  await app.screenshot(screenshotPath('desktop-package-board'));
  assert.ok(existsSync(join(place.dataDir, 'taskyard.db')));
  await app.end();
  app = undefined;
  assert.deepEqual(await gone(bin, place.root), []);
});
