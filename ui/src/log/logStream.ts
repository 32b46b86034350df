/**
 * One run's live log: a socket on `/api/runs/{id}/logs/ws?after=<cursor>` feeding a
 * `LogWindow`. It reconnects with back-off after drops (resuming after the last seq it has),
 * stops for good when the run ended or does not exist, and reads earlier pages over HTTP.
 * Plain TypeScript with a subscribe/snapshot pair, so React reads it with
 * `useSyncExternalStore` and tests drive it with a fake socket.
 */
import { describeError } from '../api/client.ts';
import { api, socketUrl } from '../api/endpoints.ts';
import { ReconnectingSocket, type Backoff, type SocketFactory } from '../api/socket.ts';
import { isRunActive, type LogMessage, type LogPage } from '../api/types.ts';
import {
  EMPTY_WINDOW,
  earlierPage,
  follow,
  prepend,
  receive,
  restartAtTail,
  type LogWindow,
} from './logWindow.ts';

/** Close code for a run that does not exist. */
export const CLOSE_NOT_FOUND = 4404;

export type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'ended' | 'not_found';

export interface LogSnapshot {
  window: LogWindow;
  status: StreamStatus;
  loadingEarlier: boolean;
  error: string | null;
}

export interface LogStreamOptions {
  create?: SocketFactory;
  backoff?: Backoff;
  readPage?: (runId: string, after: number, limit: number) => Promise<LogPage>;
}

export class LogStream {
  private snapshot: LogSnapshot = { window: EMPTY_WINDOW, status: 'connecting', loadingEarlier: false, error: null };
  private readonly listeners = new Set<() => void>();
  private socket: ReconnectingSocket | null = null;
  private paused = false;

  constructor(
    readonly runId: string,
    private readonly options: LogStreamOptions = {},
  ) {}

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getSnapshot = (): LogSnapshot => this.snapshot;

  start(): void {
    if (this.socket || this.snapshot.status === 'not_found') return;
    const socket = new ReconnectingSocket({
      // Read at every (re)connect: resume right after the last entry received.
      url: () => socketUrl(`/api/runs/${encodeURIComponent(this.runId)}/logs/ws?after=${this.snapshot.window.cursor}`),
      onMessage: (data) => {
        this.onMessage(data as LogMessage);
      },
      shouldRetry: (event) => {
        if (event.code === CLOSE_NOT_FOUND) {
          this.update({ status: 'not_found', error: 'This run does not exist (any more).' });
          return false;
        }
        return this.snapshot.window.ended === null;
      },
      onState: (state) => {
        if (this.snapshot.window.ended || this.snapshot.status === 'not_found') return;
        if (state === 'open') this.update({ status: 'live' });
        else if (state === 'waiting') this.update({ status: 'reconnecting' });
      },
      ...(this.options.create ? { create: this.options.create } : {}),
      ...(this.options.backoff ? { backoff: this.options.backoff } : {}),
    });
    this.socket = socket;
    socket.start();
  }

  stop(): void {
    this.socket?.stop();
    this.socket = null;
  }

  /** The reader scrolled away from the tail (true) or came back to it (false). */
  setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    this.paused = paused;
    if (!paused) this.update({ window: follow(this.snapshot.window) });
  }

  /** Shows the live tail again, restarting the socket there if the window had detached. */
  jumpToLatest(): void {
    this.paused = false;
    const window = this.snapshot.window;
    if (window.attached) {
      this.update({ window: follow(window) });
      return;
    }
    this.stop();
    this.update({ window: restartAtTail(window), status: 'connecting' });
    this.start();
  }

  /** Reads the page before the first entry shown. */
  async loadEarlier(): Promise<void> {
    const page = earlierPage(this.snapshot.window);
    if (!page || this.snapshot.loadingEarlier) return;
    this.update({ loadingEarlier: true, error: null });
    const read = this.options.readPage ?? api.logPage;
    try {
      const { entries } = await read(this.runId, page.after, page.limit);
      this.update({ window: prepend(this.snapshot.window, entries), loadingEarlier: false });
    } catch (error) {
      this.update({ loadingEarlier: false, error: describeError(error) });
    }
  }

  private onMessage(message: LogMessage): void {
    if (message.type === 'entries') {
      this.update({ window: receive(this.snapshot.window, message.entries, this.paused) });
    } else if (isRunActive(message.run)) {
      // Not over: a run waiting to be retried (credentials, a usage limit) or queued again
      // goes on writing this log later. Keep the window open; the close that follows is
      // retried and resumes after the last seq.
      return;
    } else {
      // `ended` makes shouldRetry refuse, so the close that follows is final.
      this.update({ window: { ...this.snapshot.window, ended: message.run }, status: 'ended' });
    }
  }

  private update(patch: Partial<LogSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...patch };
    for (const listener of [...this.listeners]) listener();
  }
}
