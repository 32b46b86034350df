// The container image and docker-compose.yml tried end to end with a real Docker engine (see
// script/docker-test): build, `compose up --wait`, then, through the published port with plain
// HTTP as a browser would, the first admin, a clone from a git server on this machine, a
// confined run that must not see the server's secrets, its diff and merge, a restart of the
// server mid-run, and the data surviving `down` and `up`. Then, from the same image, the
// scale-out of docker/compose.scale.yml: two replicas on one Postgres behind the nginx proxy,
// sharing a burst of runs (each executed once, by one replica or the other), log sockets
// served by the replica that does not execute the run, and a replica killed mid-run whose run
// the other takes over.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const project = `taskyard-test-${process.pid}-${randomBytes(3).toString('hex')}`;
// A tag of this run's own, removed at the end: runs at the same time (CI of two branches) do
// not swap each other's image, and none is left behind. The build cache outlives it.
const image = `taskyard-test:${project}`;
const started = Date.now();
const secs = (t) => `${((Date.now() - t) / 1000).toFixed(1)} s`;
const say = (msg) => console.error(`docker-test: ${msg}`);

class Failure extends Error {}
function check(ok, what) {
  if (!ok) throw new Failure(what);
}

// --- processes ------------------------------------------------------------------------------

function run(cmd, args, { input, quiet = false, allowFail = false, binary = false } = {}) {
  const r = spawnSync(cmd, args, { cwd: repo, input, encoding: binary ? 'buffer' : 'utf8', maxBuffer: 256 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0 && !allowFail) {
    if (!quiet) process.stderr.write(r.stdout + r.stderr);
    throw new Failure(`${cmd} ${args.join(' ')} exited with ${r.status}`);
  }
  return r;
}

/// Streams the output (a build's progress) instead of collecting it.
function runLoud(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: repo, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Failure(`${cmd} ${args.join(' ')} exited with ${code}`))));
  });
}

const tmp = mkdtempSync(path.join(tmpdir(), 'taskyard-docker-test-'));
/// The arguments of `docker compose` for one compose project of this test: its name, its own
/// .env (in the temporary folder) and its compose files.
const composeOf = (name, envFile, files) => (...args) =>
  ['compose', '-p', name, ...files.flatMap((f) => ['-f', path.join(repo, f)]), '--env-file', envFile, ...args];
const envFile = path.join(tmp, '.env');
const compose = composeOf(project, envFile, ['docker-compose.yml']);
const inTaskyard = (...cmd) => run('docker', compose('exec', '-T', 'taskyard', ...cmd), { allowFail: true });
// The scale-out: a project of its own, so that it starts from empty volumes.
const scaleProject = `${project}-scale`;
const scaleEnvFile = path.join(tmp, 'scale.env');
const composeScale = composeOf(scaleProject, scaleEnvFile, ['docker-compose.yml', 'docker/compose.scale.yml']);

// --- HTTP -----------------------------------------------------------------------------------

let base = '';
let token = '';
/// One request on a connection of its own: the server goes down and comes back in this test,
/// and a kept-alive connection to the old container would fail the next request.
function request(method, route, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    if (data) headers = { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) };
    const req = http.request(base + route, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function api(method, route, body, { expect = [200, 201, 202], auth = true, bearer = token } = {}) {
  const headers = { accept: 'application/json' };
  if (auth && bearer) headers.authorization = `Bearer ${bearer}`;
  const { status, text } = await request(method, route, body, headers);
  if (!expect.includes(status)) throw new Failure(`${method} ${route}: ${status} ${text.slice(0, 500)}`);
  return text ? JSON.parse(text) : null;
}

/// Polls `probe` until it returns something, or fails after `seconds`.
async function until(what, seconds, probe) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const got = await probe();
    if (got) return got;
    if (Date.now() > deadline) throw new Failure(`timed out after ${seconds} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(host, port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port, timeout: 2000 });
    sock.on('connect', () => (sock.destroy(), resolve(true)));
    sock.on('error', () => resolve(false));
    sock.on('timeout', () => (sock.destroy(), resolve(false)));
  });
}

// --- a smart-HTTP git server on this machine (git http-backend as CGI) ----------------------

function gitServer(root, host) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const env = {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      REQUEST_METHOD: req.method,
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_ADDR: req.socket.remoteAddress,
      GIT_PROTOCOL: req.headers['git-protocol'] ?? '',
      HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
    };
    const cgi = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let sent = false;
    cgi.stdout.on('data', (chunk) => {
      if (sent) return res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      let status = 200;
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const [k, ...v] = line.split(':');
        if (k.toLowerCase() === 'status') status = parseInt(v.join(':'), 10);
        else res.setHeader(k, v.join(':').trim());
      }
      res.writeHead(status);
      res.write(head.subarray(end + 4));
      sent = true;
    });
    cgi.on('close', () => res.end());
  });
  return new Promise((resolve) => server.listen(0, host, () => resolve(server)));
}

/// The gateway of a compose project's network: where its containers reach this machine.
function gatewayOf(name) {
  const network = JSON.parse(run('docker', ['network', 'inspect', `${name}_default`]).stdout)[0];
  return network.IPAM.Config.find((c) => c.Gateway && !c.Gateway.includes(':')).Gateway;
}

/// Serves a repository with one commit (made on first use) on `ip`; returns its clone URL.
async function serveDemoRepo(ip) {
  const repos = path.join(tmp, 'repos');
  if (!existsSync(path.join(repos, 'demo.git'))) {
    run('git', ['init', '-q', '-b', 'main', path.join(repos, 'demo')]);
    const g = (...a) => run('git', ['-C', path.join(repos, 'demo'), '-c', 'user.name=Test', '-c', 'user.email=test@example.com', ...a]);
    writeFileSync(path.join(repos, 'demo', 'README.md'), '# demo\n');
    g('add', '.');
    g('commit', '-q', '-m', 'first');
    run('git', ['clone', '-q', '--bare', path.join(repos, 'demo'), path.join(repos, 'demo.git')]);
  }
  const git = await gitServer(repos, ip);
  servers.push(git);
  return `http://${ip}:${git.address().port}/demo.git`;
}

/// Waits for a clone to end well; returns its status. A clone's progress is known to the
/// server that clones: behind the proxy another replica may answer 404, so ask again.
async function cloneDone(cloneId, { anyReplica = false } = {}) {
  return until('the clone', 120, async () => {
    const s = await api('GET', `/api/clones/${cloneId}`, undefined, { expect: anyReplica ? [200, 404] : [200] });
    if (s.state === 'failed') throw new Failure(`clone failed: ${s.error}`);
    return s.state === 'done' && s;
  });
}

// --- a run's log over its WebSocket ---------------------------------------------------------

/// Follows a run's log socket from the start until the server closes it (or `seconds` pass):
/// a minimal client (Node 20 has none built in) for what the server sends — unmasked text and
/// close frames. Returns the entries, for each the number of the message it came in, and the
/// run as the `end` message gave it.
function followLog(runId, seconds) {
  return new Promise((resolve, reject) => {
    const key = randomBytes(16).toString('base64');
    const req = http.request(`${base}/api/runs/${runId}/logs/ws?after=0`, {
      agent: false,
      headers: {
        connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': key,
        // As a browser on the page would: the server checks the origin too.
        origin: base, authorization: `Bearer ${token}`,
      },
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Failure(`the log socket of run ${runId} was still open after ${seconds} s`));
    }, seconds * 1000);
    const fail = (e) => (clearTimeout(timer), reject(e));
    req.on('error', fail);
    req.on('response', (res) => fail(new Failure(`the log socket of run ${runId} answered ${res.statusCode}, not an upgrade`)));
    req.on('upgrade', (res, socket, head) => {
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      if (res.headers['sec-websocket-accept'] !== accept) return fail(new Failure(`run ${runId}: a bad WebSocket handshake`));
      const got = { entries: [], messageOf: [], end: null, closeCode: null };
      let buf = head;
      let parts = [];
      let messages = 0;
      socket.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        for (;;) {
          if (buf.length < 2) return;
          const fin = (buf[0] & 0x80) !== 0, opcode = buf[0] & 0x0f;
          let len = buf[1] & 0x7f, off = 2;
          if (len === 126) [len, off] = buf.length < 4 ? [-1, 0] : [buf.readUInt16BE(2), 4];
          else if (len === 127) [len, off] = buf.length < 10 ? [-1, 0] : [Number(buf.readBigUInt64BE(2)), 10];
          if (len < 0 || buf.length < off + len) return;
          const payload = buf.subarray(off, off + len);
          buf = buf.subarray(off + len);
          if (opcode === 0x8) {
            got.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
            // The closing handshake's answer: a masked close frame with no payload.
            socket.end(Buffer.from([0x88, 0x80, ...randomBytes(4)]));
          } else if (opcode === 0x1 || opcode === 0x0) {
            parts.push(payload);
            if (!fin) continue;
            const msg = JSON.parse(Buffer.concat(parts).toString());
            parts = [];
            messages += 1;
            if (msg.type === 'entries') for (const e of msg.entries) got.entries.push(e), got.messageOf.push(messages);
            else if (msg.type === 'end') got.end = msg.run;
          }
        }
      });
      socket.on('error', fail);
      socket.on('close', () => (clearTimeout(timer), resolve(got)));
    });
    req.end();
  });
}

/// A server on `ip` the runs report their executions to (`GET /ran/<run>/<container>`), so
/// the count does not rest on the server's own records.
async function executionRecorder(ip) {
  const seen = new Map();
  const server = http.createServer((req, res) => {
    const [, what, run, where] = req.url.split('/');
    if (what === 'ran' && run && where) seen.set(run, [...(seen.get(run) ?? []), where]);
    res.end('ok\n');
  });
  await new Promise((resolve) => server.listen(0, ip, resolve));
  servers.push(server);
  return { port: server.address().port, of: (run) => seen.get(run) ?? [] };
}

// --- the test -------------------------------------------------------------------------------

const secrets = {
  POSTGRES_PASSWORD: `pg-${randomBytes(18).toString('hex')}`,
  TASKYARD_JWT_SECRET: randomBytes(32).toString('hex'),
  // An obvious fake, only to see that no credential given at run time reaches the image.
  CLAUDE_CODE_OAUTH_TOKEN: `sk-ant-oat01-FAKE-${randomBytes(12).toString('hex')}`,
};
const adminPassword = `pw-${randomBytes(12).toString('hex')}`;
/// The servers this test listens with on the compose networks' gateways, closed at the end.
const servers = [];

async function main() {
  check(run('docker', ['info'], { allowFail: true, quiet: true }).status === 0,
    'no Docker engine answers: run script/docker-engine first (as root)');

  let t = Date.now();
  say(`building ${image} from docker/Dockerfile`);
  await runLoud('docker', ['build', '--progress=plain', '-f', 'docker/Dockerfile', '-t', image, '.']);
  say(`built in ${secs(t)}`);

  const port = await freePort();
  writeFileSync(envFile, [
    ...Object.entries(secrets).map(([k, v]) => `${k}=${v}`),
    `TASKYARD_IMAGE=${image}`,
    `TASKYARD_PUBLISH=127.0.0.1:${port}`,
    // A killed server's runs are taken over when their lease expires: soon, in this test.
    'TASKYARD_RUN_LEASE_SECONDS=5',
    '',
  ].join('\n'), { mode: 0o600 });
  base = `http://127.0.0.1:${port}`;
  // This machine's own addresses (not the container bridges', which reach containers by
  // design): what answers on Postgres's port there before compose up.
  const hostAddresses = ['127.0.0.1', ...Object.entries(networkInterfaces())
    .filter(([name]) => !/^(docker|br-|veth)/.test(name))
    .flatMap(([, addrs]) => addrs.filter((a) => a.family === 'IPv4' && !a.internal).map((a) => a.address))];
  const pgBefore = new Set();
  for (const a of hostAddresses) if (await canConnect(a, 5432)) pgBefore.add(a);

  t = Date.now();
  run('docker', compose('up', '-d', '--wait', '--no-build'));
  say(`compose up --wait: healthy in ${secs(t)}`);

  // The image: a non-root user, no secret in its history or environment.
  const config = JSON.parse(run('docker', ['image', 'inspect', image]).stdout)[0].Config;
  check(config.User === 'taskyard', `the image's user is ${JSON.stringify(config.User)}`);
  const history = run('docker', ['history', '--no-trunc', image]).stdout;
  const imageText = history + JSON.stringify(config);
  for (const [name, value] of Object.entries(secrets)) {
    check(!imageText.includes(value), `${name} appears in the image's history or configuration`);
  }
  check(!config.Env.some((e) => /SECRET|PASSWORD|TOKEN|FERNET/.test(e.split('=')[0])),
    `the image's environment names a secret: ${config.Env.join(' ')}`);

  // Test machines build with stand-in base images that trust this machine's extra CAs (a
  // TLS-intercepting proxy's): none of that may reach the image people run.
  const bundle = inTaskyard('cat', '/etc/ssl/certs/ca-certificates.crt').stdout;
  check(bundle.includes('BEGIN CERTIFICATE'), "the image has no CA bundle");
  const caDir = '/usr/local/share/ca-certificates';
  const extraCas = (existsSync(caDir) ? readdirSync(caDir, { withFileTypes: true }) : [])
    .filter((e) => e.isFile() && e.name.endsWith('.crt'))
    .map((e) => readFileSync(path.join(caDir, e.name), 'utf8'));
  for (const ca of extraCas) {
    const body = ca.split('\n').filter((l) => l && !l.startsWith('-----')).slice(0, 3).join('\n');
    check(!body || !bundle.includes(body), "one of this machine's own CA certificates is in the image");
  }

  // The running container: every process of it as uid 10001, no capability.
  const uids = inTaskyard('sh', '-c', 'for s in /proc/[0-9]*/status; do sed -n "s/^Uid:\\t\\([0-9]*\\).*/\\1/p" "$s"; done').stdout.split('\n').filter(Boolean);
  check(uids.length >= 2 && uids.every((u) => u === '10001'), `processes in the container run as ${[...new Set(uids)].join(', ')}`);
  const capEff = inTaskyard('sed', '-n', 's/^CapEff:\\t//p', '/proc/1/status').stdout.trim();
  check(/^0+$/.test(capEff), `PID 1 has capabilities ${capEff}`);

  // The database: not published, and nothing new answers on the host's Postgres port.
  const pgPorts = run('docker', compose('port', 'postgres', '5432'), { allowFail: true, quiet: true });
  check(pgPorts.status !== 0 || pgPorts.stdout.trim() === '' || pgPorts.stdout.trim() === ':0',
    `the database is published: ${pgPorts.stdout}`);
  for (const a of hostAddresses) {
    if (!pgBefore.has(a)) check(!(await canConnect(a, 5432)), `something answers on ${a}:5432 since compose up`);
  }

  const health = await api('GET', '/health', undefined, { auth: false });
  check(health.sandbox === 'required' && health.confined === true, `/health: ${JSON.stringify(health)}`);
  const ready = await api('GET', '/ready', undefined, { auth: false });
  check(ready.status === 'ready' && ready.database === 'postgres', `/ready: ${JSON.stringify(ready)}`);

  // The first account becomes the admin.
  const session = await api('POST', '/api/auth/register', { email: 'admin@example.com', name: 'Admin', password: adminPassword });
  check(session.user.role === 'admin', `the first account is ${session.user.role}`);
  token = session.access_token;

  // A repository on this machine, served over smart HTTP on the compose network's gateway: the
  // containers reach this machine there. The outbound policy refuses private addresses until
  // the admin allows this one.
  const gateway = gatewayOf(project);
  const url = await serveDemoRepo(gateway);

  const refused = await api('POST', '/api/projects/clone', { url }, { expect: [202, 400, 403, 422] });
  if (refused?.clone_id) {
    const end = await until('the refused clone', 60, async () => {
      const s = await api('GET', `/api/clones/${refused.clone_id}`);
      return s.state !== 'running' && s;
    });
    check(end.state === 'failed', `a clone from ${gateway} succeeded before the admin allowed it`);
  }
  await api('PUT', '/api/settings/security', { allowed_cidrs: [`${gateway}/32`] });

  t = Date.now();
  const clone = await api('POST', '/api/projects/clone', { url, name: 'demo' });
  const proj = (await cloneDone(clone.clone_id)).project;
  say(`cloned ${url} in ${secs(t)}`);

  // Registration is by invitation after the first account: a member joins with the admin's
  // invite and sees the project once added to it.
  const memberPassword = `pw-${randomBytes(12).toString('hex')}`;
  const member = { email: 'member@example.com', name: 'Member', password: memberPassword };
  await api('POST', '/api/auth/register', member, { auth: false, expect: [400, 403, 422] });
  const invite = await api('POST', '/api/admin/invites', { email: member.email, role: 'member' });
  const joined = await api('POST', '/api/auth/register', { ...member, invite: invite.code }, { auth: false });
  check(joined.user.role === 'member', `the invited account is ${joined.user.role}`);
  const before = await api('GET', '/api/projects', undefined, { bearer: joined.access_token });
  check(!before.some((p) => p.id === proj.id), 'a member sees a project before being added to it');
  await api('POST', `/api/projects/${proj.id}/members`, { email: member.email });
  const after = await api('GET', '/api/projects', undefined, { bearer: joined.access_token });
  check(after.some((p) => p.id === proj.id), 'the member does not see the project after being added');

  // A run that tries what confinement must deny, and changes the repository.
  check(inTaskyard('test', '-r', '/data/fernet.key').status === 0, 'the server cannot read its own key file');
  const probe = [
    'if cat /data/fernet.key >/dev/null 2>&1; then echo "key-file: READ"; else echo "key-file: DENIED"; fi',
    // /data holds the worktree: the sandbox sees the folders on the way to it, no more.
    'echo "data-dir: $(cd /data && find . -maxdepth 3 | sort | tr "\\n" " ")"',
    'if env | grep -q -e "postgres:/[/]" -e TASKYARD_JWT -e POSTGRES_PASSWORD; then echo "database-url: SEEN"; else echo "database-url: DENIED"; fi',
    // The patterns are written so that this script's and grep's command lines do not match.
    'if grep -s -l -a "postgres:/[/]" /proc/[0-9]*/environ /proc/[0-9]*/cmdline >/dev/null; then echo "server-env: SEEN"; else echo "server-env: DENIED"; fi',
    'echo "written in a container" > from-docker.txt',
  ].join('\n');
  const task = await api('POST', `/api/projects/${proj.id}/tasks`, { title: 'Confined', agent: 'custom', agent_config: { command: probe } });
  t = Date.now();
  const first = await api('POST', `/api/tasks/${task.id}/runs`);
  const done = await finished(first.id, 180);
  const log = await logText(first.id);
  check(done.status === 'succeeded', `the run ended ${done.status}: ${log}`);
  for (const name of ['key-file', 'database-url', 'server-env']) {
    check(log.includes(`${name}: DENIED`), `${name} was not denied to the run: ${log}`);
  }
  const seen = log.match(/^data-dir: (.*)$/m)?.[1] ?? '';
  check(seen.includes('./worktrees/') && !seen.includes('fernet.key'), `the run sees in /data: ${seen}`);
  const key = inTaskyard('cat', '/data/fernet.key').stdout.trim();
  check(key.length > 20, 'the key file is empty');
  for (const value of [key, ...Object.values(secrets)]) check(!log.includes(value), 'a secret appears in the run log');
  say(`confined run ${done.status} in ${secs(t)}`);

  const diff = await api('GET', `/api/runs/${first.id}/diff`);
  check(diff.files.some((f) => f.path === 'from-docker.txt' && f.patch.includes('written in a container')),
    `the run's file is not in its diff: ${JSON.stringify(diff.files.map((f) => f.path))}`);
  const merged = await api('POST', `/api/runs/${first.id}/merge`);
  check(['fast_forward', 'merge_commit'].includes(merged.outcome.kind), `merge: ${JSON.stringify(merged)}`);
  const onMain = inTaskyard('git', '-C', proj.repo_path, 'show', `${merged.into}:from-docker.txt`);
  check(onMain.stdout.trim() === 'written in a container', `after the merge ${merged.into} lacks the file: ${onMain.stderr}`);

  // Claude Code, the image's own CLI, in the sandbox against the project's mock of the
  // Anthropic API on this machine: the model writes a file, which the diff shows.
  const pin = /^ARG CLAUDE_CODE_VERSION=(\S+)$/m.exec(readFileSync(path.join(repo, 'docker/Dockerfile'), 'utf8'))[1];
  const mock = await mockAnthropic(gateway, 'from-claude.txt', 'written by Claude Code\n');
  const claudeTask = await api('POST', `/api/projects/${proj.id}/tasks`, {
    title: 'Claude in Docker', description: 'Write from-claude.txt.', agent: 'claude',
    agent_config: { env: { ANTHROPIC_BASE_URL: mock.url, ANTHROPIC_API_KEY: `sk-ant-api03-FAKE-${randomBytes(8).toString('hex')}` } },
  });
  t = Date.now();
  const claudeRun = await api('POST', `/api/tasks/${claudeTask.id}/runs`);
  const claudeDone = await finished(claudeRun.id, 300);
  const claudeLog = await logText(claudeRun.id);
  check(claudeDone.status === 'succeeded', `the Claude Code run ended ${claudeDone.status}: ${claudeLog}`);
  check(claudeLog.includes(`Claude Code ${pin}`), `the run did not use Claude Code ${pin}: ${claudeLog}`);
  const calls = await mock.stop();
  check(calls.some((l) => l.startsWith('write true ')), `the mock API saw no model call: ${calls.join('\n')}`);
  const claudeDiff = await api('GET', `/api/runs/${claudeRun.id}/diff`);
  check(claudeDiff.files.some((f) => f.path === 'from-claude.txt' && f.patch.includes('written by Claude Code')),
    `Claude's file is not in the diff: ${JSON.stringify(claudeDiff.files.map((f) => f.path))}`);
  say(`Claude Code ${pin} run ${claudeDone.status} in ${secs(t)}`);

  // The server restarted in the middle of a run: the run is recovered and completes.
  const slow = await api('POST', `/api/projects/${proj.id}/tasks`, {
    title: 'Outlives a restart', agent: 'custom',
    agent_config: { command: 'echo started; sleep 6; echo "after restart" > restarted.txt; echo finished' },
  });
  const second = await api('POST', `/api/tasks/${slow.id}/runs`);
  await until('the second run to start', 60, async () => /^started$/m.test(await logText(second.id)));
  t = Date.now();
  run('docker', compose('restart', 'taskyard'));
  await until('the restarted server', 60, async () => (await request('GET', '/ready').catch(() => null))?.status === 200);
  const recovered = await finished(second.id, 180);
  const log2 = await logText(second.id);
  // A server that is stopped hands its runs back to the queue (a killed one has them
  // recovered when their lease expires): the run executes again, the log keeps both.
  check(recovered.status === 'succeeded' && recovered.tries >= 2,
    `after a restart the run is ${recovered.status} after ${recovered.tries} executions: ${log2}`);
  check((log2.match(/^started$/gm) ?? []).length === recovered.tries && /^finished$/m.test(log2),
    `the recovered run's log lost lines: ${log2}`);
  say(`restart mid-run: recovered, ${recovered.status} ${secs(t)} after the restart`);

  // The server killed (SIGKILL to its process; tini, PID 1, exits with it and the restart
  // policy brings the container back): the run's lease expires and the new server recovers it.
  const third = await api('POST', `/api/tasks/${slow.id}/runs`);
  await until('the third run to start', 60, async () => /^started$/m.test(await logText(third.id)));
  t = Date.now();
  const killed = inTaskyard('sh', '-c',
    'for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = taskyard ] && kill -KILL "${p#/proc/}" && exit 0; done; exit 1');
  check(killed.status === 0, `could not kill the server: ${killed.stderr}`);
  await until('the container to come back', 90, async () => (await request('GET', '/ready').catch(() => null))?.status === 200);
  const revived = await finished(third.id, 180);
  const log3 = await logText(third.id);
  check(revived.status === 'succeeded' && revived.recoveries >= 1,
    `after SIGKILL the run is ${revived.status} with ${revived.recoveries} recoveries: ${log3}`);
  check(/^finished$/m.test(log3) && (log3.match(/^started$/gm) ?? []).length === revived.tries,
    `the recovered run's log lost lines: ${log3}`);
  say(`SIGKILL mid-run: recovered, ${revived.status} ${secs(t)} after the kill`);

  // down and up without -v: the volumes keep accounts, projects and runs.
  run('docker', compose('down'));
  run('docker', compose('up', '-d', '--wait', '--no-build'));
  const again = await api('POST', '/api/auth/login', { email: 'admin@example.com', password: adminPassword });
  token = again.access_token;
  const projects = await api('GET', '/api/projects');
  check(projects.some((p) => p.id === proj.id), 'the project is gone after down and up');
  const kept = await api('GET', `/api/runs/${first.id}`);
  check(kept.status === 'succeeded', `the first run reads ${kept.status} after down and up`);
  check(inTaskyard('cat', '/data/fernet.key').stdout.trim() === key, 'the key file changed after down and up');
  say('data intact after down and up');

  // Backup and restore as the README says: a dump and the data volume with the server
  // stopped, then both into fresh volumes.
  t = Date.now();
  run('docker', compose('stop', 'taskyard'));
  const dump = run('docker', compose('exec', '-T', 'postgres', 'pg_dump', '-U', 'taskyard', '-d', 'taskyard', '--format=custom'), { binary: true }).stdout;
  const archive = run('docker', compose('run', '--rm', '-T', '--no-deps', '--entrypoint', 'tar', 'taskyard', '-C', '/data', '-czf', '-', '.'), { binary: true }).stdout;
  check(dump.length > 1000 && archive.length > 100, `backup too small: dump ${dump.length} B, archive ${archive.length} B`);
  run('docker', compose('down', '-v'));
  run('docker', compose('up', '-d', '--wait', 'postgres'));
  run('docker', compose('exec', '-T', 'postgres', 'pg_restore', '-U', 'taskyard', '-d', 'taskyard', '--clean', '--if-exists', '--no-owner'), { input: dump });
  run('docker', compose('run', '--rm', '-T', '--no-deps', '--entrypoint', 'tar', 'taskyard', '-C', '/data', '-xzf', '-'), { input: archive });
  run('docker', compose('up', '-d', '--wait', '--no-build'));
  token = (await api('POST', '/api/auth/login', { email: 'admin@example.com', password: adminPassword })).access_token;
  check((await api('GET', '/api/projects')).some((p) => p.id === proj.id), 'the project is gone after the restore');
  check((await logText(first.id)).includes('key-file: DENIED'), "the first run's log is gone after the restore");
  check(inTaskyard('cat', '/data/fernet.key').stdout.trim() === key, 'the key file differs after the restore');
  const restoredFile = inTaskyard('git', '-C', proj.repo_path, 'show', `${merged.into}:from-docker.txt`).stdout.trim();
  check(restoredFile === 'written in a container', 'the merged change is gone from the repository after the restore');
  say(`backup and restore into fresh volumes: ${secs(t)}`);
}

/// docker/compose.scale.yml: two replicas of the same image on one Postgres behind the
/// proxy, everything through the proxy's published port.
async function scaleOut() {
  const phaseStart = Date.now();
  const port = await freePort();
  writeFileSync(scaleEnvFile, [
    `POSTGRES_PASSWORD=pg-${randomBytes(18).toString('hex')}`,
    `TASKYARD_JWT_SECRET=${randomBytes(32).toString('hex')}`,
    `TASKYARD_IMAGE=${image}`,
    `TASKYARD_PUBLISH=127.0.0.1:${port}`,
    // With the port: the proxy must pass `Host` as the client sent it.
    `TASKYARD_PUBLIC_URL=http://127.0.0.1:${port}`,
    // The killed replica's run is taken over when its lease expires: soon, in this test.
    'TASKYARD_RUN_LEASE_SECONDS=5',
    '',
  ].join('\n'), { mode: 0o600 });
  base = `http://127.0.0.1:${port}`;
  token = '';
  let t = Date.now();
  run('docker', composeScale('up', '-d', '--wait', '--no-build', '--scale', 'taskyard=2'));
  const replicas = run('docker', composeScale('ps', '-q', 'taskyard')).stdout.split('\n').filter(Boolean).map((id) => {
    const info = JSON.parse(run('docker', ['inspect', id]).stdout)[0];
    return { id, host: info.Config.Hostname, ip: Object.values(info.NetworkSettings.Networks)[0].IPAddress };
  });
  check(replicas.length === 2 && replicas[0].host !== replicas[1].host, `compose runs ${replicas.length} taskyard containers, not 2`);
  const replicaOn = (host) => replicas.find((r) => r.host === host);
  say(`scale-out: two replicas behind the proxy, up in ${secs(t)}`);

  const ready = await api('GET', '/ready', undefined, { auth: false });
  check(ready.status === 'ready' && ready.database === 'postgres', `/ready through the proxy: ${JSON.stringify(ready)}`);
  const foreign = await request('GET', '/api/auth/mode', undefined, { host: 'taskyard.example.com' });
  check(foreign.status === 421, `a request naming another host through the proxy: ${foreign.status}`);
  const session = await api('POST', '/api/auth/register', { email: 'admin@example.com', name: 'Admin', password: adminPassword });
  check(session.user.role === 'admin', `the first account through the proxy is ${session.user.role}`);
  token = session.access_token;
  const gateway = gatewayOf(scaleProject);
  const url = await serveDemoRepo(gateway);
  await api('PUT', '/api/settings/security', { allowed_cidrs: [`${gateway}/32`] });
  const clone = await api('POST', '/api/projects/clone', { url, name: 'demo' });
  const proj = (await cloneDone(clone.clone_id, { anyReplica: true })).project;

  // Bodies up to the server's limit (2 MiB) pass the proxy: refused by the server for what
  // they say (422), not by nginx for their size (413); beyond, nginx refuses them.
  const body = (bytes) => ({ title: 0, padding: 'x'.repeat(bytes - 50) });
  const underLimit = await request('POST', `/api/projects/${proj.id}/tasks`, body(2 * 1024 * 1024 - 1024), { authorization: `Bearer ${token}` });
  check(underLimit.status === 422 && underLimit.text.startsWith('{'), `a body just under 2 MiB through the proxy: ${underLimit.status} ${underLimit.text.slice(0, 200)}`);
  const overLimit = await request('POST', `/api/projects/${proj.id}/tasks`, body(3 * 1024 * 1024), { authorization: `Bearer ${token}` });
  check(overLimit.status === 413, `a body of 3 MiB through the proxy: ${overLimit.status}`);

  // Each execution names its container (Docker writes the container's address and name as the
  // last line of its /etc/hosts, which the sandbox sees), appends it to a file of the run's
  // worktree and reports it to this machine.
  const reports = await executionRecorder(gateway);
  const command = (seconds) => [
    'set -- $(tail -n 1 /etc/hosts); host=$2',
    'echo "executing on $host"',
    `sleep ${seconds}`,
    'echo "$host" >> ran.txt',
    `bash -c 'exec 3<>/dev/tcp/${gateway}/${reports.port} && printf "GET /ran/%s/%s HTTP/1.0\\r\\n\\r\\n" "$0" "$1" >&3 && cat <&3 >/dev/null' "$TASKYARD_RUN_ID" "$host"`,
    'echo "done on $host"',
  ].join('\n');
  const executions = (log, what) => [...log.matchAll(new RegExp(`^${what} on (\\S+)$`, 'gm'))].map((m) => m[1]);
  const markerLines = async (runId) => {
    const diff = await api('GET', `/api/runs/${runId}/diff`);
    const patch = diff.files.find((f) => f.path === 'ran.txt')?.patch ?? '';
    return patch.split('\n').filter((l) => l.startsWith('+') && !l.startsWith('+++')).map((l) => l.slice(1));
  };

  // A burst of runs, started at once through the proxy (each request to whichever replica
  // nginx picks), more than one replica's slots hold: both must take runs from the queue.
  const count = 12;
  const tasks = await Promise.all(Array.from({ length: count }, (_, i) => api('POST', `/api/projects/${proj.id}/tasks`, {
    title: `Shared ${i + 1}`, agent: 'custom', agent_config: { command: command(3) },
  })));
  t = Date.now();
  const runs = await Promise.all(tasks.map((task) => api('POST', `/api/tasks/${task.id}/runs`)));
  // Every run's log followed from the start, each socket on whichever replica nginx picks.
  const sockets = runs.map((r) => followLog(r.id, 180).catch((error) => ({ error })));
  // The lease owners (`<replica>/<boot>`) seen while the runs execute.
  const owners = new Map(runs.map((r) => [r.id, new Set()]));
  const ended = await until('the burst of runs to end', 180, async () => {
    const now = await Promise.all(runs.map((r) => api('GET', `/api/runs/${r.id}`)));
    for (const r of now) if (r.lease_owner) owners.get(r.id).add(r.lease_owner);
    return now.every((r) => terminal.has(r.status)) && now;
  });
  const followed = await Promise.all(sockets);
  say(`scale-out: ${count} runs ended in ${secs(t)}`);

  const replicaIds = new Map(replicas.map((r) => [r.host, new Set()]));
  const executor = new Map();
  for (const r of ended) {
    const log = await logText(r.id);
    check(r.status === 'succeeded' && r.tries === 1 && r.recoveries === 0,
      `run ${r.id} ended ${r.status} after ${r.tries} executions, ${r.recoveries} recoveries: ${log}`);
    const on = executions(log, 'executing');
    const done = executions(log, 'done');
    check(on.length === 1 && done.length === 1 && on[0] === done[0] && replicaOn(on[0]), `run ${r.id} executed as its log says: ${log}`);
    const reported = reports.of(r.id);
    check(reported.length === 1 && reported[0] === on[0], `run ${r.id} reported executions on [${reported.join(', ')}], not once on ${on[0]}`);
    const marker = await markerLines(r.id);
    check(marker.length === 1 && marker[0] === on[0], `run ${r.id}'s marker file holds [${marker.join(', ')}]`);
    const leases = [...owners.get(r.id)];
    check(leases.length === 1, `run ${r.id} was seen under the leases [${leases.join(', ')}]`);
    replicaIds.get(on[0]).add(leases[0].split('/')[0]);
    executor.set(r.id, replicaOn(on[0]));
  }
  const perReplica = replicas.map((r) => [...executor.values()].filter((e) => e === r).length);
  check(perReplica.every((n) => n > 0), `runs executed per replica: ${perReplica.join(' and ')}; the queue is not shared`);
  // The data volume is shared: one replica holds <data>/replica-id (under <data>/replica.lock),
  // the other runs under an id of its own — so neither treats the other's runs as its own.
  const ids = [...replicaIds.values()].map((set) => [...set]);
  check(ids.every((set) => set.length === 1) && ids[0][0] !== ids[1][0],
    `replica ids of the two containers: ${ids.map((set) => `[${set.join(', ')}]`).join(' and ')}`);
  const kept = run('docker', ['exec', replicas[0].id, 'cat', '/data/replica-id']).stdout.trim();
  check(ids.some((set) => set[0] === kept), `neither replica runs under the volume's replica id ${kept}`);

  // Every socket delivered the run's whole log, each entry once, and its end; which replica
  // served it the proxy's access log says (`upstream=`).
  const proxyLog = run('docker', composeScale('logs', '--no-color', 'proxy')).stdout;
  let across = 0;
  for (const [i, r] of ended.entries()) {
    const got = followed[i];
    if (got.error) throw got.error;
    const stored = (await api('GET', `/api/runs/${r.id}/logs?after=0&limit=1000`)).entries;
    check(JSON.stringify(got.entries.map((e) => e.seq)) === JSON.stringify(stored.map((e) => e.seq)),
      `run ${r.id}'s socket sent seqs ${got.entries.map((e) => e.seq).join(',')}, the store holds ${stored.map((e) => e.seq).join(',')}`);
    check(got.end?.status === 'succeeded' && got.closeCode === 1000, `run ${r.id}'s socket ended with ${got.end?.status}, close code ${got.closeCode}`);
    const line = proxyLog.split('\n').find((l) => l.includes(`"GET /api/runs/${r.id}/logs/ws"`));
    const served = line?.match(/upstream=(.*)$/)?.[1].split(', ').pop().split(':')[0];
    check(replicas.some((x) => x.ip === served), `the proxy's log names no replica for run ${r.id}'s socket: ${line}`);
    // Live from the other replica: its last line (written 3 s after its first) came later.
    const texts = got.entries.map((e) => e.text);
    const live = got.messageOf[texts.findIndex((x) => x.startsWith('done on'))] > got.messageOf[texts.findIndex((x) => x.startsWith('executing on'))];
    if (served !== executor.get(r.id).ip && live) across += 1;
  }
  check(across > 0, `no log socket was followed live on the replica that did not execute its run`);
  say(`scale-out: runs per replica ${perReplica.join(' + ')}, each executed once; ${across} of ${count} log sockets followed live across replicas`);

  // The replicas trust the proxy by its service name: a sign-in's audit entry names the client
  // as nginx saw it (this machine, through the network's gateway), not the proxy.
  await api('POST', '/api/auth/login', { email: 'admin@example.com', password: adminPassword }, { auth: false });
  const audit = await api('GET', '/api/admin/audit?limit=5');
  const entries = Array.isArray(audit) ? audit : [];
  const login = entries.find((e) => e.action === 'login');
  check(login?.ip === gateway, `the sign-in's address through the trusted proxy is ${login?.ip}, not the gateway ${gateway}: ${JSON.stringify(audit).slice(0, 400)}`);

  // A replica killed mid-run: no restart (a killed container stays down), so the other takes
  // the run over once its lease expires, and it ends once.
  const slowTask = await api('POST', `/api/projects/${proj.id}/tasks`, { title: 'Outlives its replica', agent: 'custom', agent_config: { command: command(6) } });
  const slow = await api('POST', `/api/tasks/${slowTask.id}/runs`);
  const first = await until('the run to start', 60, async () => executions(await logText(slow.id), 'executing')[0]);
  const victim = replicaOn(first);
  const survivor = replicas.find((r) => r !== victim);
  t = Date.now();
  run('docker', ['kill', victim.id]);
  const over = await finished(slow.id, 120);
  const log = await logText(slow.id);
  check(over.status === 'succeeded' && over.tries === 2 && over.recoveries >= 1,
    `after its replica was killed the run is ${over.status} after ${over.tries} executions, ${over.recoveries} recoveries: ${log}`);
  const on = executions(log, 'executing');
  const done = executions(log, 'done');
  check(on.join() === [victim.host, survivor.host].join() && done.join() === survivor.host,
    `the taken-over run's log: ${log}`);
  const reported = reports.of(slow.id);
  check(reported.join() === survivor.host, `the taken-over run reported executions on [${reported.join(', ')}]`);
  const marker = await markerLines(slow.id);
  check(marker.join() === survivor.host, `the taken-over run's marker file holds [${marker.join(', ')}]`);
  say(`scale-out: a replica killed mid-run, the other finished its run ${secs(t)} after the kill`);
  say(`scale-out: ${secs(phaseStart)} in all`);
}

/// The project's mock of the Anthropic API (test-support/examples/mock_anthropic.rs), built by
/// script/docker-test, listening on `ip`; `stop()` ends it and returns the requests it saw.
async function mockAnthropic(ip, file, content) {
  const bin = process.env.TASKYARD_MOCK_ANTHROPIC;
  check(bin, 'TASKYARD_MOCK_ANTHROPIC is not set: run this through script/docker-test');
  const child = spawn(bin, [ip, file, content], { stdio: ['pipe', 'pipe', 'inherit'] });
  mocks.push(child);
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  const url = await until('the mock API', 30, async () => out.includes('\n') && out.split('\n')[0]);
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return {
    url,
    stop: async () => {
      child.stdin.end();
      await exited;
      return out.split('\n').slice(1).filter(Boolean);
    },
  };
}
const mocks = [];

const terminal = new Set(['succeeded', 'failed', 'cancelled', 'interrupted', 'auth_required', 'quota_exceeded', 'billing', 'server_error', 'max_turns']);

async function finished(runId, seconds) {
  return until(`run ${runId} to end`, seconds, async () => {
    const r = await api('GET', `/api/runs/${runId}`).catch((e) => (e instanceof Failure ? null : Promise.reject(e)));
    return r && terminal.has(r.status) && r;
  });
}

async function logText(runId) {
  const page = await api('GET', `/api/runs/${runId}/logs?after=0&limit=1000`).catch(() => ({ entries: [] }));
  return page.entries.map((e) => e.text).join('\n');
}

let failed = false;
let phase = compose;
try {
  await main();
  run('docker', compose('down', '-v', '--remove-orphans'));
  phase = composeScale;
  await scaleOut();
} catch (e) {
  failed = true;
  console.error(`docker-test: FAILED: ${e instanceof Failure ? e.message : e.stack}${e?.cause ? ` (${e.cause})` : ""}`);
  const logs = run('docker', phase('logs', '--no-color', '--tail', '80'), { allowFail: true, quiet: true });
  console.error(logs.stdout + logs.stderr);
} finally {
  for (const s of servers) s.close();
  for (const m of mocks) m.kill();
  run('docker', compose('down', '-v', '--remove-orphans'), { allowFail: true, quiet: true });
  run('docker', composeScale('down', '-v', '--remove-orphans'), { allowFail: true, quiet: true });
  run('docker', ['image', 'rm', image], { allowFail: true, quiet: true });
  rmSync(tmp, { recursive: true, force: true });
}
say(`${failed ? 'failed' : 'passed'} in ${secs(started)}`);
process.exit(failed ? 1 : 0);
