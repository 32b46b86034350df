// Test doubles for the network: a fetch that answers by method and path, and sockets the test
// drives by hand.
import { vi } from 'vitest';
import type { SocketLike } from '../api/socket.ts';

type Handler = (request: Request, url: URL) => unknown;

export interface FakeServer {
  /** `'GET /api/projects'` → the JSON answer (or a Response, or a function of the request). */
  on(route: string, answer: unknown): FakeServer;
  requests: { method: string; path: string; body: unknown }[];
}

/** Stubs the global fetch. Unknown routes answer 404 with the server's error shape. */
export function fakeServer(): FakeServer {
  const routes = new Map<string, Handler>();
  const requests: FakeServer['requests'] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(new URL(String(input), 'http://localhost'), init);
    const url = new URL(request.url);
    const text = request.method === 'GET' || request.method === 'HEAD' ? '' : await request.clone().text();
    requests.push({ method: request.method, path: url.pathname + url.search, body: text ? (JSON.parse(text) as unknown) : undefined });
    const handler = routes.get(`${request.method} ${url.pathname}`);
    if (url.pathname === '/health') return new Response('ok');
    if (!handler) {
      return json(404, { error: 'not_found', message: `no route for ${request.method} ${url.pathname}` });
    }
    const answer = handler(request, url);
    return answer instanceof Response ? answer : json(200, answer);
  });
  vi.stubGlobal('fetch', fetch);
  const server: FakeServer = {
    requests,
    on(route, answer) {
      routes.set(route, typeof answer === 'function' ? (answer as Handler) : () => answer);
      return server;
    },
  };
  return server;
}

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

export class FakeSocket implements SocketLike {
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  closed = false;

  constructor(readonly url: string) {}

  open(): void {
    this.onopen?.(new Event('open'));
  }

  send(data: unknown): void {
    this.onmessage?.(new MessageEvent('message', { data: JSON.stringify(data) }));
  }

  /** The server closes the connection. */
  drop(code = 1006): void {
    this.onclose?.(new CloseEvent('close', { code }));
  }

  close(): void {
    this.closed = true;
  }
}

/** A socket factory that remembers every socket it made. */
export function socketFactory() {
  const sockets: FakeSocket[] = [];
  const create = (url: string) => {
    const socket = new FakeSocket(url);
    sockets.push(socket);
    return socket;
  };
  return {
    sockets,
    create,
    last(): FakeSocket {
      const socket = sockets.at(-1);
      if (!socket) throw new Error('no socket was opened');
      return socket;
    },
  };
}
