/**
 * A run's live log. Follows the tail while the reader is at the bottom; scrolling up pauses
 * that, and "Jump to latest" resumes it. Only a bounded window of entries is ever rendered
 * (see logWindow.ts); "Show earlier" reads older pages by seq.
 */
import { useEffect, useLayoutEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import type { Run } from '../api/types.ts';
import { firstSeq, unseen } from './logWindow.ts';
import { LogStream, type LogStreamOptions, type StreamStatus } from './logStream.ts';
import { LogRow } from './LogRow.tsx';

/** How close to the bottom (px) still counts as "at the latest line". */
const BOTTOM_SLACK = 32;

const STATUS_TEXT: Record<StreamStatus, string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  ended: 'finished',
  not_found: 'not found',
};

export function RunLog({
  runId,
  options,
  onEnd,
}: {
  runId: string;
  options?: LogStreamOptions;
  /** The run as it ended, when the log says so. */
  onEnd?: (run: Run) => void;
}) {
  const stream = useMemo(() => new LogStream(runId, options), [runId, options]);
  useEffect(() => {
    stream.start();
    return () => {
      stream.stop();
    };
  }, [stream]);
  const { window, status, loadingEarlier, error } = useSyncExternalStore(stream.subscribe, stream.getSnapshot);

  const ended = window.ended;
  useEffect(() => {
    if (ended) onEnd?.(ended);
  }, [ended, onEnd]);

  const scroller = useRef<HTMLDivElement>(null);
  const [paused, setPaused] = useState(false);
  const [cursorAtPause, setCursorAtPause] = useState(0);

  useLayoutEffect(() => {
    const element = scroller.current;
    if (element && !paused) element.scrollTop = element.scrollHeight;
  }, [window.entries, paused]);

  const onScroll = () => {
    const element = scroller.current;
    if (!element) return;
    const atBottom = element.scrollHeight - element.scrollTop - element.clientHeight <= BOTTOM_SLACK;
    if (atBottom === !paused) return;
    if (!atBottom) setCursorAtPause(window.cursor);
    setPaused(!atBottom);
    stream.setPaused(!atBottom);
  };

  const jumpToLatest = () => {
    stream.jumpToLatest();
    setPaused(false);
  };

  const newLines = paused ? Math.max(window.cursor - cursorAtPause, unseen(window)) : 0;
  const hasEarlier = firstSeq(window) > 1;
  const empty = window.entries.length === 0;

  return (
    <section className="log" aria-label="Run log">
      <div className="log-bar">
        <span className="log-state" data-state={status}>
          <span className="status-dot" aria-hidden="true" />
          {STATUS_TEXT[status]}
        </span>
        <span className="log-count">{window.cursor.toLocaleString('en-US')} lines</span>
      </div>
      <div className="log-scroll" ref={scroller} onScroll={onScroll} role="log" aria-live="off" tabIndex={0}>
        {hasEarlier && (
          <button
            type="button"
            className="button button-small log-earlier"
            disabled={loadingEarlier}
            onClick={() => void stream.loadEarlier()}
          >
            {loadingEarlier ? 'Loading…' : `Show earlier (from line ${firstSeq(window) - 1})`}
          </button>
        )}
        {error && (
          <p className="inline-error" role="alert">
            {error}
          </p>
        )}
        {empty && status !== 'not_found' && (
          <p className="log-empty">{status === 'ended' ? 'This run printed nothing.' : 'Waiting for output…'}</p>
        )}
        <ol className="log-entries">
          {window.entries.map((entry) => (
            <LogRow key={entry.seq} entry={entry} />
          ))}
        </ol>
      </div>
      {paused && (
        <button type="button" className="button button-primary log-jump" onClick={jumpToLatest}>
          Jump to latest{newLines > 0 ? ` (${newLines.toLocaleString('en-US')} new)` : ''}
        </button>
      )}
    </section>
  );
}
