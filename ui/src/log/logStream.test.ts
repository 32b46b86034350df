import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { entry, run } from '../test/fixtures.ts';
import { socketFactory } from '../test/fakes.ts';
import { LogStream } from './logStream.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function range(from: number, to: number) {
  return Array.from({ length: to - from + 1 }, (_, i) => entry(from + i));
}

function stream() {
  const factory = socketFactory();
  const log = new LogStream('r1', { create: factory.create, backoff: { initial: 100, max: 100 } });
  log.start();
  return { factory, log, seqs: () => log.getSnapshot().window.entries.map((e) => e.seq) };
}

describe('LogStream', () => {
  it('reconnects after the last seq it has, without losing or doubling lines', () => {
    const { factory, log, seqs } = stream();
    expect(factory.last().url).toBe('ws://localhost:3000/api/runs/r1/logs/ws?after=0');
    factory.last().open();
    expect(log.getSnapshot().status).toBe('live');
    factory.last().send({ type: 'entries', entries: range(1, 3) });
    factory.last().drop(1006);
    expect(log.getSnapshot().status).toBe('reconnecting');
    vi.advanceTimersByTime(100);
    expect(factory.last().url).toBe('ws://localhost:3000/api/runs/r1/logs/ws?after=3');
    factory.last().open();
    // Even a server that repeated itself cannot double a line.
    factory.last().send({ type: 'entries', entries: range(3, 5) });
    expect(seqs()).toEqual([1, 2, 3, 4, 5]);
  });

  it('stops at the end of the run', () => {
    const { factory, log } = stream();
    factory.last().open();
    factory.last().send({ type: 'entries', entries: range(1, 2) });
    factory.last().send({ type: 'end', run: run('r1', 't1', { status: 'succeeded' }) });
    factory.last().drop(1000);
    vi.advanceTimersByTime(10_000);
    expect(factory.sockets).toHaveLength(1);
    expect(log.getSnapshot().status).toBe('ended');
    expect(log.getSnapshot().window.ended?.status).toBe('succeeded');
  });

  it('stays open for a run that waits to be retried, resuming after its last seq', () => {
    const { factory, log, seqs } = stream();
    factory.last().open();
    factory.last().send({ type: 'entries', entries: range(1, 2) });
    // A server that closed the log of a waiting run as if it ended: it is not over.
    factory.last().send({ type: 'end', run: run('r1', 't1', { status: 'waiting_auth', retry_at: '2026-01-01T00:05:00Z' }) });
    factory.last().drop(1000);
    expect(log.getSnapshot().window.ended).toBeNull();
    expect(log.getSnapshot().status).toBe('reconnecting');
    vi.advanceTimersByTime(100);
    expect(factory.sockets).toHaveLength(2);
    expect(factory.last().url).toBe('ws://localhost:3000/api/runs/r1/logs/ws?after=2');
    factory.last().open();
    factory.last().send({ type: 'entries', entries: range(3, 4) });
    factory.last().send({ type: 'end', run: run('r1', 't1', { status: 'failed', tries: 20 }) });
    expect(seqs()).toEqual([1, 2, 3, 4]);
    expect(log.getSnapshot().status).toBe('ended');
  });

  it('gives up on a run that does not exist', () => {
    const { factory, log } = stream();
    factory.last().drop(4404);
    vi.advanceTimersByTime(10_000);
    expect(factory.sockets).toHaveLength(1);
    expect(log.getSnapshot().status).toBe('not_found');
  });

  it('reconnects after a server shutdown (1001)', () => {
    const { factory } = stream();
    factory.last().open();
    factory.last().drop(1001);
    vi.advanceTimersByTime(100);
    expect(factory.sockets).toHaveLength(2);
  });

  it('reads earlier pages by seq', async () => {
    const factory = socketFactory();
    const readPage = vi.fn((_run: string, after: number, limit: number) =>
      Promise.resolve({ entries: range(after + 1, after + limit), run_status: 'running' as const }),
    );
    const log = new LogStream('r1', { create: factory.create, readPage });
    log.start();
    factory.last().open();
    factory.last().send({ type: 'entries', entries: range(1, 1600) });
    expect(log.getSnapshot().window.entries[0]?.seq).toBe(601);
    await log.loadEarlier();
    expect(readPage).toHaveBeenCalledWith('r1', 100, 500);
    expect(log.getSnapshot().window.entries[0]?.seq).toBe(101);
  });

  it('restarts at the tail when the window had detached', () => {
    const { factory, log } = stream();
    factory.last().open();
    factory.last().send({ type: 'entries', entries: range(1, 100) });
    log.setPaused(true);
    factory.last().send({ type: 'entries', entries: range(101, 3200) });
    expect(log.getSnapshot().window.attached).toBe(false);
    log.jumpToLatest();
    expect(factory.sockets).toHaveLength(2);
    expect(factory.last().url).toContain('after=2200');
    factory.last().open();
    factory.last().send({ type: 'entries', entries: range(2201, 3250) });
    const window = log.getSnapshot().window;
    expect(window.attached).toBe(true);
    expect(window.entries.at(-1)?.seq).toBe(3250);
    expect(window.entries).toHaveLength(1000);
  });
});
