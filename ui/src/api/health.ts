/**
 * Server liveness as the UI sees it: `GET /health` answering 2xx means
 * connected; an error status or no answer at all means unreachable.
 */
import { useEffect, useState } from 'react';
import { request, type Fetch } from './client.ts';

export type Connection = 'checking' | 'connected' | 'unreachable';

/** How often the status line re-checks the server. */
export const HEALTH_INTERVAL_MS = 15_000;

export async function checkHealth(signal?: AbortSignal, fetchImpl?: Fetch): Promise<boolean> {
  try {
    await request('/health', {
      cache: 'no-store',
      ...(signal ? { signal } : {}),
      ...(fetchImpl ? { fetch: fetchImpl } : {}),
    });
    return true;
  } catch {
    return false;
  }
}

/** Polls `/health` while mounted. */
export function useConnection(intervalMs: number = HEALTH_INTERVAL_MS): Connection {
  const [connection, setConnection] = useState<Connection>('checking');

  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;

    const poll = async () => {
      const ok = await checkHealth(controller.signal);
      if (controller.signal.aborted) return;
      setConnection(ok ? 'connected' : 'unreachable');
      timer = setTimeout(() => void poll(), intervalMs);
    };
    void poll();

    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [intervalMs]);

  return connection;
}
