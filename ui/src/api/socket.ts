/**
 * A WebSocket that comes back: after an unexpected close it reconnects with exponential
 * back-off, asking its owner for the URL again each time (a log socket resumes after the last
 * seq it has). The owner decides from the close event whether to retry at all.
 */

/** The parts of `WebSocket` used here, so tests can pass a fake. */
export interface SocketLike {
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = (url: string) => SocketLike;

export type SocketState = 'connecting' | 'open' | 'waiting' | 'stopped';

export interface Backoff {
  /** First delay (ms). */
  initial: number;
  /** Longest delay (ms). */
  max: number;
}

export const DEFAULT_BACKOFF: Backoff = { initial: 500, max: 15_000 };

/** The delay before reconnect number `attempt` (0-based): doubling, capped. */
export function backoffDelay(attempt: number, backoff: Backoff = DEFAULT_BACKOFF): number {
  return Math.min(backoff.max, backoff.initial * 2 ** Math.max(0, attempt));
}

export interface ReconnectingSocketOptions {
  /** The URL for the next connection. */
  url: () => string;
  /** Each message's parsed JSON (messages that are not JSON are dropped). */
  onMessage: (data: unknown) => void;
  /** The socket opened; `reconnected` is true after a drop. */
  onOpen?: (reconnected: boolean) => void;
  /** Whether to reconnect after this close (default: yes). */
  shouldRetry?: (event: CloseEvent) => boolean;
  onState?: (state: SocketState) => void;
  create?: SocketFactory;
  backoff?: Backoff;
}

export class ReconnectingSocket {
  private socket: SocketLike | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private attempt = 0;
  private opened = false;
  private stopped = true;

  constructor(private readonly options: ReconnectingSocketOptions) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Closes for good: no reconnect, no more callbacks. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      socket.close(1000, 'done');
    }
    this.options.onState?.('stopped');
  }

  private connect(): void {
    const create = this.options.create ?? ((url: string) => new WebSocket(url));
    this.options.onState?.('connecting');
    const socket = create(this.options.url());
    this.socket = socket;
    socket.onopen = () => {
      const reconnected = this.opened;
      this.opened = true;
      this.attempt = 0;
      this.options.onState?.('open');
      this.options.onOpen?.(reconnected);
    };
    socket.onmessage = (event) => {
      if (typeof event.data !== 'string') return;
      let data: unknown;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      this.options.onMessage(data);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      if (this.options.shouldRetry?.(event) === false) {
        this.stopped = true;
        this.options.onState?.('stopped');
        return;
      }
      const delay = backoffDelay(this.attempt++, this.options.backoff);
      this.options.onState?.('waiting');
      this.timer = setTimeout(() => {
        this.connect();
      }, delay);
    };
    // An error is always followed by a close, which decides what happens next.
    socket.onerror = null;
  }
}
