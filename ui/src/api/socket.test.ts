import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { socketFactory } from '../test/fakes.ts';
import { ReconnectingSocket, backoffDelay } from './socket.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('backoffDelay', () => {
  it('doubles up to the cap', () => {
    const backoff = { initial: 500, max: 4000 };
    expect([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(n, backoff))).toEqual([500, 1000, 2000, 4000, 4000, 4000]);
  });
});

describe('ReconnectingSocket', () => {
  it('reconnects with back-off, asking for the URL each time', () => {
    const factory = socketFactory();
    let n = 0;
    const opened: boolean[] = [];
    const socket = new ReconnectingSocket({
      url: () => `ws://x/${n++}`,
      onMessage: () => undefined,
      onOpen: (reconnected) => opened.push(reconnected),
      create: factory.create,
      backoff: { initial: 100, max: 1000 },
    });
    socket.start();
    factory.last().open();
    factory.last().drop();
    expect(factory.sockets).toHaveLength(1);
    vi.advanceTimersByTime(99);
    expect(factory.sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(factory.sockets.map((s) => s.url)).toEqual(['ws://x/0', 'ws://x/1']);
    // Failing again without opening waits longer.
    factory.last().drop();
    vi.advanceTimersByTime(150);
    expect(factory.sockets).toHaveLength(2);
    vi.advanceTimersByTime(50);
    expect(factory.sockets).toHaveLength(3);
    factory.last().open();
    expect(opened).toEqual([false, true]);
  });

  it('passes parsed JSON on and drops what is not JSON', () => {
    const factory = socketFactory();
    const messages: unknown[] = [];
    new ReconnectingSocket({ url: () => 'ws://x', onMessage: (m) => messages.push(m), create: factory.create }).start();
    factory.last().send({ type: 'resync' });
    factory.last().onmessage?.(new MessageEvent('message', { data: 'not json' }));
    expect(messages).toEqual([{ type: 'resync' }]);
  });

  it('stops when told not to retry, and after stop()', () => {
    const factory = socketFactory();
    const socket = new ReconnectingSocket({
      url: () => 'ws://x',
      onMessage: () => undefined,
      shouldRetry: (event) => event.code !== 4404,
      create: factory.create,
    });
    socket.start();
    factory.last().drop(4404);
    vi.advanceTimersByTime(60_000);
    expect(factory.sockets).toHaveLength(1);

    const again = new ReconnectingSocket({ url: () => 'ws://y', onMessage: () => undefined, create: factory.create });
    again.start();
    again.stop();
    expect(factory.last().closed).toBe(true);
    vi.advanceTimersByTime(60_000);
    expect(factory.sockets).toHaveLength(2);
  });
});
