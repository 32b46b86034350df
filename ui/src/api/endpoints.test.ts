import { describe, expect, it, vi } from 'vitest';
import { ApiError } from './client.ts';
import { api, socketUrl } from './endpoints.ts';

function answer(status: number, body?: unknown) {
  const fetch = vi.fn<(request: Request) => Promise<Response>>(() =>
    Promise.resolve(
      body === undefined
        ? new Response(null, { status })
        : new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } }),
    ),
  );
  vi.stubGlobal('fetch', fetch);
  return fetch;
}

function sent(fetch: ReturnType<typeof answer>): Request {
  const request = fetch.mock.calls[0]?.[0];
  if (!request) throw new Error('nothing was sent');
  return request;
}

describe('api', () => {
  it('puts query parameters in the query string', async () => {
    const fetch = answer(200, []);
    await api.columnPage('p1', 'done', { position: 2.5, id: 't9' }, 25);
    const url = new URL(sent(fetch).url);
    expect(url.pathname).toBe('/api/projects/p1/tasks');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      status: 'done',
      after_position: '2.5',
      after_id: 't9',
      limit: '25',
    });
  });

  it('sends JSON bodies with the method', async () => {
    const fetch = answer(200, { id: 't1' });
    await api.updateTask('t1', { status: 'in_review', position: 1.5 });
    const request = sent(fetch);
    expect(request.method).toBe('PATCH');
    expect(new URL(request.url).pathname).toBe('/api/tasks/t1');
    expect(await request.json()).toEqual({ status: 'in_review', position: 1.5 });
  });

  it("rejects with the server's error", async () => {
    answer(409, { error: 'conflict', message: 'merge conflict in out.txt' });
    const failure = api.merge('r1');
    await expect(failure).rejects.toBeInstanceOf(ApiError);
    await expect(failure).rejects.toMatchObject({ status: 409, message: 'merge conflict in out.txt' });
  });

  it('resolves to undefined for 204', async () => {
    answer(204);
    await expect(api.deleteTask('t1')).resolves.toBeUndefined();
  });
});

describe('socketUrl', () => {
  it('follows the page scheme', () => {
    expect(socketUrl('/api/events', { protocol: 'http:', host: '127.0.0.1:7777' })).toBe('ws://127.0.0.1:7777/api/events');
    expect(socketUrl('/api/events', { protocol: 'https:', host: 'yard.example' })).toBe('wss://yard.example/api/events');
  });
});
