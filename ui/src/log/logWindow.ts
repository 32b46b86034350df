/**
 * The part of a run's log the page keeps: a window of entries with contiguous seqs, never more
 * than a few thousand, however long the log is.
 *
 * - While following the tail, new entries are appended and the oldest dropped past `LIVE_CAP`.
 * - While the reader is paused (scrolled up), entries keep coming up to `WINDOW_MAX`; past that
 *   the window detaches from the tail (nothing moves under the reader's eyes) and only the
 *   cursor advances. "Jump to latest" then restarts from the tail.
 * - "Show earlier" prepends a page read by seq; a window that grows past `WINDOW_MAX` drops its
 *   newest entries and detaches.
 *
 * `cursor` is the highest seq received: a reconnecting socket asks for entries after it, and
 * anything at or below it that arrives again is dropped, so lines are never lost or doubled.
 */
import type { LogEntry, Run } from '../api/types.ts';

/** Entries kept while following the tail. */
export const LIVE_CAP = 1000;
/** Entries kept at most. */
export const WINDOW_MAX = 3000;
/** Entries per "show earlier" page. */
export const PAGE = 500;

export interface LogWindow {
  /** Ascending, contiguous seqs. */
  entries: readonly LogEntry[];
  /** The highest seq received; the socket resumes after it. */
  cursor: number;
  /** Whether `entries` ends at `cursor` (the live tail is shown). */
  attached: boolean;
  /** The run as it ended, once the socket said so. */
  ended: Run | null;
}

export const EMPTY_WINDOW: LogWindow = { entries: [], cursor: 0, attached: true, ended: null };

/** `incoming` in seq order, without duplicates and without anything at or before `cursor`. */
export function freshEntries(incoming: readonly LogEntry[], cursor: number): LogEntry[] {
  const sorted = [...incoming].sort((a, b) => a.seq - b.seq);
  const fresh: LogEntry[] = [];
  let last = cursor;
  for (const entry of sorted) {
    if (entry.seq > last) {
      fresh.push(entry);
      last = entry.seq;
    }
  }
  return fresh;
}

/** Entries from the socket. `paused`: the reader scrolled away from the tail. */
export function receive(window: LogWindow, incoming: readonly LogEntry[], paused: boolean): LogWindow {
  const fresh = freshEntries(incoming, window.cursor);
  const last = fresh.at(-1);
  if (!last) return window;
  const cursor = last.seq;
  if (!window.attached) return { ...window, cursor };
  const entries = window.entries.concat(fresh);
  if (paused) {
    if (entries.length > WINDOW_MAX) return { ...window, cursor, attached: false };
    return { ...window, entries, cursor };
  }
  return { ...window, entries: entries.length > LIVE_CAP ? entries.slice(-LIVE_CAP) : entries, cursor };
}

/** The reader is back at the tail: drop what is beyond the live cap. */
export function follow(window: LogWindow): LogWindow {
  if (!window.attached || window.entries.length <= LIVE_CAP) return window;
  return { ...window, entries: window.entries.slice(-LIVE_CAP) };
}

/** The first seq the window holds (or would hold next). */
export function firstSeq(window: LogWindow): number {
  return window.entries[0]?.seq ?? window.cursor + 1;
}

/** The page "show earlier" reads (`GET …/logs?after=&limit=`), or null at the log's start. */
export function earlierPage(window: LogWindow, page: number = PAGE): { after: number; limit: number } | null {
  const first = firstSeq(window);
  if (first <= 1) return null;
  const after = Math.max(0, first - 1 - page);
  return { after, limit: first - 1 - after };
}

/** Adds an earlier page in front; past `WINDOW_MAX` the newest entries go and the tail detaches. */
export function prepend(window: LogWindow, page: readonly LogEntry[]): LogWindow {
  const first = firstSeq(window);
  const older = freshEntries(page, 0).filter((entry) => entry.seq < first);
  if (older.length === 0) return window;
  const entries = older.concat(window.entries);
  if (entries.length > WINDOW_MAX) return { ...window, entries: entries.slice(0, WINDOW_MAX), attached: false };
  return { ...window, entries };
}

/**
 * Back to the tail after detaching: an empty window whose cursor sits `LIVE_CAP` entries before
 * the last known seq, so the socket (restarted with `after = cursor`) replays the tail and goes
 * on live, with no gap by the server's guarantee.
 */
export function restartAtTail(window: LogWindow): LogWindow {
  return { entries: [], cursor: Math.max(0, window.cursor - LIVE_CAP), attached: true, ended: window.ended };
}

/** How many entries arrived that the window does not show (after detaching). */
export function unseen(window: LogWindow): number {
  const last = window.entries.at(-1)?.seq ?? window.cursor;
  return Math.max(0, window.cursor - last);
}
