import { describe, expect, it } from 'vitest';
import type { LogEntry } from '../api/types.ts';
import {
  EMPTY_WINDOW,
  LIVE_CAP,
  WINDOW_MAX,
  earlierPage,
  follow,
  freshEntries,
  prepend,
  receive,
  restartAtTail,
  unseen,
  type LogWindow,
} from './logWindow.ts';

function entry(seq: number): LogEntry {
  return { run_id: 'r1', seq, ts: '2026-01-01T00:00:00Z', kind: 'stdout', text: `line ${seq}` };
}

function range(from: number, to: number): LogEntry[] {
  return Array.from({ length: to - from + 1 }, (_, i) => entry(from + i));
}

const seqs = (window: LogWindow) => window.entries.map((e) => e.seq);

describe('freshEntries', () => {
  it('sorts, drops duplicates and what the cursor passed', () => {
    expect(freshEntries([entry(5), entry(3), entry(4), entry(4), entry(2)], 2).map((e) => e.seq)).toEqual([3, 4, 5]);
  });
});

describe('receive', () => {
  it('appends in seq order and advances the cursor', () => {
    const window = receive(receive(EMPTY_WINDOW, range(1, 3), false), range(4, 5), false);
    expect(seqs(window)).toEqual([1, 2, 3, 4, 5]);
    expect(window.cursor).toBe(5);
  });

  it('ignores a replay after a reconnect (nothing doubled)', () => {
    const before = receive(EMPTY_WINDOW, range(1, 10), false);
    // The socket reconnected with after=10; a server that replayed 8..12 still adds only 11, 12.
    const after = receive(before, range(8, 12), false);
    expect(seqs(after)).toEqual(range(1, 12).map((e) => e.seq));
    expect(receive(after, range(1, 12), false)).toBe(after);
  });

  it('keeps at most LIVE_CAP entries while following', () => {
    const window = receive(EMPTY_WINDOW, range(1, LIVE_CAP + 250), false);
    expect(window.entries).toHaveLength(LIVE_CAP);
    expect(window.entries[0]?.seq).toBe(251);
    expect(window.cursor).toBe(LIVE_CAP + 250);
  });

  it('keeps the window still for a paused reader, then detaches at WINDOW_MAX', () => {
    let window = receive(EMPTY_WINDOW, range(1, 100), false);
    window = receive(window, range(101, LIVE_CAP + 500), true);
    expect(window.entries[0]?.seq).toBe(1);
    expect(window.attached).toBe(true);

    window = receive(window, range(LIVE_CAP + 501, WINDOW_MAX + 10), true);
    expect(window.attached).toBe(false);
    expect(window.entries).toHaveLength(LIVE_CAP + 500);
    expect(window.cursor).toBe(WINDOW_MAX + 10);
    expect(unseen(window)).toBe(WINDOW_MAX + 10 - (LIVE_CAP + 500));
  });

  it('only moves the cursor while detached', () => {
    const detached: LogWindow = { entries: range(1, 5), cursor: 20, attached: false, ended: null };
    const next = receive(detached, range(21, 25), false);
    expect(seqs(next)).toEqual([1, 2, 3, 4, 5]);
    expect(next.cursor).toBe(25);
  });
});

describe('follow', () => {
  it('trims a paused window back to the live cap when the reader returns', () => {
    const window = receive(EMPTY_WINDOW, range(1, LIVE_CAP + 10), true);
    expect(window.entries).toHaveLength(LIVE_CAP + 10);
    expect(follow(window).entries[0]?.seq).toBe(11);
  });
});

describe('show earlier', () => {
  it('asks for the page before the first entry', () => {
    const window = receive(EMPTY_WINDOW, range(1, LIVE_CAP + 700), false);
    expect(window.entries[0]?.seq).toBe(701);
    expect(earlierPage(window, 500)).toEqual({ after: 200, limit: 500 });
    const bigger = prepend(window, range(201, 700));
    expect(bigger.entries[0]?.seq).toBe(201);
    expect(bigger.entries).toHaveLength(LIVE_CAP + 500);
    expect(earlierPage(bigger, 500)).toEqual({ after: 0, limit: 200 });
    expect(earlierPage(prepend(bigger, range(1, 200)), 500)).toBeNull();
  });

  it('ignores entries it already has', () => {
    const window = receive(EMPTY_WINDOW, range(5, 10), false);
    expect(seqs(prepend(window, range(1, 8)))).toEqual(range(1, 10).map((e) => e.seq));
  });

  it('drops the newest and detaches past WINDOW_MAX', () => {
    const window: LogWindow = { entries: range(2001, 5000), cursor: 5000, attached: true, ended: null };
    const next = prepend(window, range(1501, 2000));
    expect(next.entries).toHaveLength(WINDOW_MAX);
    expect(next.entries[0]?.seq).toBe(1501);
    expect(next.attached).toBe(false);
  });
});

describe('restartAtTail', () => {
  it('empties the window and rewinds the cursor so the socket replays the tail', () => {
    const detached: LogWindow = { entries: range(1, 5), cursor: 5000, attached: false, ended: null };
    expect(restartAtTail(detached)).toEqual({ entries: [], cursor: 5000 - LIVE_CAP, attached: true, ended: null });
    expect(restartAtTail({ ...detached, cursor: 10 }).cursor).toBe(0);
  });
});
