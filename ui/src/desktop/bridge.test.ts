import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventHub } from '../api/events.ts';
import type { Project, Run, Task } from '../api/types.ts';
import { PROJECT_ID, project, run, task } from '../test/fixtures.ts';
import {
  MAX_NOTICES,
  REPORT_INTERVAL_MS,
  cut,
  noticeBody,
  readSnapshot,
  startBridge,
  tauriInvoke,
  type Invoke,
  type Report,
  type Source,
} from './bridge.ts';

/** A server holding `projects`, `tasks` (in their columns) and each task's `runs`. */
interface Server {
  projects?: Project[];
  tasks?: Task[];
  runs?: Record<string, Run[]>;
}

function fakeSource({ projects = [project()], tasks = [], runs = {} }: Server = {}) {
  const state = { projects, tasks, runs };
  const source = {
    projects: vi.fn(() => Promise.resolve(state.projects)),
    column: vi.fn((projectId: string, status: string) =>
      Promise.resolve(state.tasks.filter((t) => t.project_id === projectId && t.status === status)),
    ),
    runs: vi.fn((taskId: string) => Promise.resolve(state.runs[taskId] ?? [])),
    task: vi.fn((taskId: string) => {
      const found = state.tasks.find((t) => t.id === taskId);
      return found ? Promise.resolve(found) : Promise.reject(new Error('not found'));
    }),
  } satisfies Source;
  return { source, state };
}

let hub: EventHub;
let invoke: ReturnType<typeof vi.fn<Invoke>>;

function reports(): Report[] {
  return invoke.mock.calls.map(([command, args]) => {
    expect(command).toBe('report');
    return args;
  });
}

function finished(id: string, taskId: string, fields: Partial<Run> = {}) {
  hub.emit({ type: 'run_updated', project_id: PROJECT_ID, run: run(id, taskId, { status: 'succeeded', ...fields }) });
}

function started(id: string, taskId: string) {
  hub.emit({ type: 'run_updated', project_id: PROJECT_ID, run: run(id, taskId, { status: 'running' }) });
}

/** Starts the bridge and lets its first read of the server finish. */
async function start(source: Source) {
  const stop = startBridge({ hub, invoke, source });
  await vi.advanceTimersByTimeAsync(0);
  return stop;
}

beforeEach(() => {
  vi.useFakeTimers();
  hub = new EventHub();
  invoke = vi.fn<Invoke>(() => Promise.resolve());
});

afterEach(() => {
  vi.useRealTimers();
});

describe('tauriInvoke', () => {
  it('is there only in the desktop window', () => {
    expect(tauriInvoke({})).toBeNull();
    expect(tauriInvoke(window)).toBeNull();
    expect(tauriInvoke({ __TAURI_INTERNALS__: {} })).toBeNull();
    expect(tauriInvoke({ __TAURI_INTERNALS__: { invoke: 'no' } })).toBeNull();
  });

  it('calls the IPC on its object', async () => {
    const internals = {
      calls: [] as unknown[][],
      invoke(this: { calls: unknown[][] }, ...args: unknown[]) {
        this.calls.push(args);
        return Promise.resolve('ok');
      },
    };
    const call = tauriInvoke({ __TAURI_INTERNALS__: internals });
    await expect(call?.('report', { running: 1, notices: [] })).resolves.toBe('ok');
    expect(internals.calls).toEqual([['report', { running: 1, notices: [] }]]);
  });
});

describe('readSnapshot', () => {
  it('reads the live runs of every project’s in-progress and waiting cards', async () => {
    const { source } = fakeSource({
      projects: [project(), project({ id: 'p2', name: 'other' })],
      tasks: [
        task('t1', { status: 'in_progress' }),
        task('t2', { status: 'waiting', project_id: 'p2' }),
        task('t3', { status: 'done' }),
      ],
      runs: {
        t1: [run('old', 't1', { status: 'failed' }), run('r1', 't1', { status: 'running' })],
        t2: [run('r2', 't2', { status: 'waiting_quota' })],
        t3: [run('r3', 't3', { status: 'succeeded' })],
      },
    });
    const snapshot = await readSnapshot(source);
    expect(snapshot.runs.map((live) => [live.run.id, live.projectId])).toEqual([
      ['r1', PROJECT_ID],
      ['r2', 'p2'],
    ]);
    expect(snapshot.tasks.map((t) => t.id).sort()).toEqual(['t1', 't2']);
    expect(source.runs).not.toHaveBeenCalledWith('t3');
  });

  it('leaves out what cannot be read', async () => {
    const { source } = fakeSource({ tasks: [task('t1', { status: 'in_progress' })] });
    source.column.mockImplementationOnce(() => Promise.reject(new Error('gone')));
    source.runs.mockImplementation(() => Promise.reject(new Error('gone')));
    await expect(readSnapshot(source)).resolves.toMatchObject({ runs: [] });
  });
});

describe('notice texts', () => {
  it('cut long titles to 120 characters and name the project', () => {
    expect(cut('  short  ', 120)).toBe('short');
    const long = 'x'.repeat(200);
    expect(cut(long, 120)).toBe(`${'x'.repeat(119)}…`);
    expect(noticeBody(long, 'demo')).toBe(`${'x'.repeat(119)}… — demo`);
    expect(noticeBody('Fix it', undefined)).toBe('Fix it');
    expect(noticeBody(undefined, 'demo')).toBe('A task in demo');
    expect(noticeBody(undefined, undefined)).toBe('A task');
  });
});

describe('startBridge', () => {
  it('reports the running runs it found at start, without notices for them', async () => {
    const { source } = fakeSource({
      tasks: [task('t1', { status: 'in_progress' }), task('t2', { status: 'waiting' })],
      runs: { t1: [run('r1', 't1', { status: 'running' })], t2: [run('r2', 't2', { status: 'waiting_auth' })] },
    });
    await start(source);
    expect(reports()).toEqual([{ running: 1, notices: [] }]);
  });

  it('reports a zero count at start too (the tray may show a stale one)', async () => {
    await start(fakeSource().source);
    expect(reports()).toEqual([{ running: 0, notices: [] }]);
  });

  it('tells runs that finish, fail or start waiting, with the task and its project', async () => {
    const { source } = fakeSource({
      tasks: [task('t1', { status: 'in_progress', title: 'Fix the login' }), task('t2', { status: 'in_progress' })],
      runs: { t1: [run('r1', 't1', { status: 'running' })], t2: [run('r2', 't2', { status: 'running' })] },
    });
    await start(source);
    finished('r1', 't1');
    await vi.advanceTimersByTimeAsync(REPORT_INTERVAL_MS);
    hub.emit({ type: 'run_updated', project_id: PROJECT_ID, run: run('r2', 't2', { status: 'waiting_quota' }) });
    await vi.advanceTimersByTimeAsync(REPORT_INTERVAL_MS);
    expect(reports().slice(1)).toEqual([
      { running: 1, notices: [{ title: 'Run finished', body: 'Fix the login — demo' }] },
      { running: 0, notices: [{ title: 'Run waiting for a usage limit', body: 'Task t2 — demo' }] },
    ]);
  });

  it('reports a changed count without notices, and nothing when nothing changed', async () => {
    await start(fakeSource().source);
    started('r1', 't1');
    await vi.advanceTimersByTimeAsync(REPORT_INTERVAL_MS);
    hub.emit({ type: 'task_updated', task: task('t1', { status: 'in_progress' }) });
    started('r1', 't1');
    await vi.advanceTimersByTimeAsync(REPORT_INTERVAL_MS * 4);
    hub.emit({ type: 'run_updated', project_id: PROJECT_ID, run: run('r1', 't1', { status: 'cancelled' }) });
    await vi.advanceTimersByTimeAsync(REPORT_INTERVAL_MS);
    expect(reports()).toEqual([
      { running: 0, notices: [] },
      { running: 1, notices: [] },
      { running: 0, notices: [] },
    ]);
  });

  it('reads a task’s title when no event brought it', async () => {
    const { source, state } = fakeSource();
    await start(source);
    state.tasks = [task('t9', { title: 'Written elsewhere', status: 'failed' })];
    hub.emit({ type: 'run_updated', project_id: PROJECT_ID, run: run('r9', 't9', { status: 'failed' }) });
    await vi.advanceTimersByTimeAsync(REPORT_INTERVAL_MS);
    expect(reports()[1]).toEqual({ running: 0, notices: [{ title: 'Run failed', body: 'Written elsewhere — demo' }] });
    expect(source.task).toHaveBeenCalledWith('t9');
  });

  it('merges a burst into one report, at most one per interval', async () => {
    await start(fakeSource().source);
    expect(invoke).toHaveBeenCalledTimes(1);
    started('r1', 't1');
    await vi.advanceTimersByTimeAsync(100);
    started('r2', 't2');
    finished('r1', 't1');
    await vi.advanceTimersByTimeAsync(100);
    finished('r2', 't2');
    // Still inside the interval of the first report.
    await vi.advanceTimersByTimeAsync(REPORT_INTERVAL_MS - 201);
    expect(invoke).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(invoke).toHaveBeenCalledTimes(2);
    expect(reports()[1]).toEqual({
      running: 0,
      notices: [
        { title: 'Run finished', body: 'A task in demo' },
        { title: 'Run finished', body: 'A task in demo' },
      ],
    });
    // The next change waits for the next interval.
    started('r3', 't3');
    await vi.advanceTimersByTimeAsync(REPORT_INTERVAL_MS - 1);
    expect(invoke).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(reports()[2]).toEqual({ running: 1, notices: [] });
  });

  it(`sends at most ${MAX_NOTICES} notices, summing up the rest in the last`, async () => {
    await start(fakeSource().source);
    for (let i = 0; i < 12; i++) finished(`r${i}`, `t${i}`);
    for (let i = 12; i < 15; i++) {
      hub.emit({ type: 'run_updated', project_id: PROJECT_ID, run: run(`r${i}`, `t${i}`, { status: 'failed' }) });
    }
    hub.emit({ type: 'run_updated', project_id: PROJECT_ID, run: run('r15', 't15', { status: 'waiting_auth' }) });
    await vi.advanceTimersByTimeAsync(REPORT_INTERVAL_MS);
    const { notices } = reports()[1] ?? { notices: [] };
    expect(notices).toHaveLength(MAX_NOTICES);
    expect(notices.slice(0, 9).every((n) => n.title === 'Run finished')).toBe(true);
    expect(notices[9]).toEqual({
      title: '7 more runs changed',
      body: '3 finished, 3 failed, 1 waiting for credentials',
    });
  });

  it('sends exactly ten notices without a summary', async () => {
    await start(fakeSource().source);
    for (let i = 0; i < MAX_NOTICES; i++) finished(`r${i}`, `t${i}`);
    await vi.advanceTimersByTimeAsync(REPORT_INTERVAL_MS);
    const notices = reports()[1]?.notices ?? [];
    expect(notices).toHaveLength(MAX_NOTICES);
    expect(notices.every((n) => n.title === 'Run finished')).toBe(true);
  });

  it('reads the live runs again after a resync, without notices for what it missed', async () => {
    const { source, state } = fakeSource({
      tasks: [task('t1', { status: 'in_progress' })],
      runs: { t1: [run('r1', 't1', { status: 'running' })] },
    });
    await start(source);
    // While the socket was away r1 ended and r2 started.
    state.tasks = [task('t1', { status: 'in_review' }), task('t2', { status: 'in_progress' })];
    state.runs = { t1: [run('r1', 't1', { status: 'succeeded' })], t2: [run('r2', 't2', { status: 'running' })] };
    hub.emit({ type: 'resync' });
    await vi.advanceTimersByTimeAsync(REPORT_INTERVAL_MS);
    expect(reports()).toEqual([{ running: 1, notices: [] }]);
    finished('r2', 't2');
    await vi.advanceTimersByTimeAsync(REPORT_INTERVAL_MS);
    expect(reports()[1]).toEqual({ running: 0, notices: [{ title: 'Run finished', body: 'Task t2 — demo' }] });
    expect(source.projects).toHaveBeenCalledTimes(2);
  });

  it('holds reports until the first read, and keeps events that came during it', async () => {
    const { source } = fakeSource({
      tasks: [task('t1', { status: 'in_progress' })],
      runs: { t1: [run('r1', 't1', { status: 'running' })] },
    });
    let release: (() => void) | undefined;
    source.projects.mockImplementationOnce(
      () =>
        new Promise<Project[]>((resolve) => {
          release = () => {
            resolve([project()]);
          };
        }),
    );
    startBridge({ hub, invoke, source });
    finished('r1', 't1');
    await vi.advanceTimersByTimeAsync(REPORT_INTERVAL_MS * 2);
    expect(invoke).not.toHaveBeenCalled();
    release?.();
    await vi.advanceTimersByTimeAsync(0);
    // The snapshot still says running, but the event is newer.
    expect(reports()).toEqual([{ running: 0, notices: [{ title: 'Run finished', body: 'Task t1 — demo' }] }]);
  });

  it('counts from events alone when the server cannot be read', async () => {
    const { source } = fakeSource();
    source.projects.mockImplementation(() => Promise.reject(new Error('offline')));
    await start(source);
    started('r1', 't1');
    await vi.advanceTimersByTimeAsync(REPORT_INTERVAL_MS);
    expect(reports()).toEqual([
      { running: 0, notices: [] },
      { running: 1, notices: [] },
    ]);
  });

  it('logs a refused report once and carries on', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    invoke.mockImplementation(() => Promise.reject(new Error('report not allowed')));
    const other = vi.fn();
    hub.subscribe(other);
    await start(fakeSource().source);
    started('r1', 't1');
    await vi.advanceTimersByTimeAsync(REPORT_INTERVAL_MS);
    invoke.mockImplementation(() => {
      throw new Error('IPC gone');
    });
    finished('r1', 't1');
    await vi.advanceTimersByTimeAsync(REPORT_INTERVAL_MS);
    expect(invoke).toHaveBeenCalledTimes(3);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(other).toHaveBeenCalledTimes(2);
  });

  it('tells the tray no runs go any more when it stops, and then stays quiet', async () => {
    const { source } = fakeSource({
      tasks: [task('t1', { status: 'in_progress' })],
      runs: { t1: [run('r1', 't1', { status: 'running' })] },
    });
    const stop = await start(source);
    finished('r1', 't1');
    stop();
    await vi.advanceTimersByTimeAsync(REPORT_INTERVAL_MS * 2);
    started('r2', 't2');
    await vi.advanceTimersByTimeAsync(REPORT_INTERVAL_MS * 2);
    expect(reports()).toEqual([
      { running: 1, notices: [] },
      { running: 0, notices: [] },
    ]);
  });
});
