import { describe, expect, it, vi } from 'vitest';
import { ApiError, describeError, errorFromBody, request, requestJson } from './client.ts';

function jsonResponse(status: number, body: unknown, statusText = ''): Response {
  return new Response(JSON.stringify(body), {
    status,
    statusText,
    headers: { 'Content-Type': 'application/json' },
  });
}

async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  }
  throw new Error('expected the request to fail');
}

describe('request', () => {
  it("throws the server's message and code on a non-2xx answer", async () => {
    const fetch = vi.fn(() =>
      Promise.resolve(jsonResponse(404, { error: 'not_found', message: 'Task 42 does not exist.' })),
    );
    const error = await rejection(request('/api/tasks/42', { fetch }));
    expect(error.message).toBe('Task 42 does not exist.');
    expect(error.status).toBe(404);
    expect(error.code).toBe('not_found');
    expect(error).toBeInstanceOf(Error);
  });

  it('falls back to the status line when the body is not JSON', async () => {
    const fetch = vi.fn(() =>
      Promise.resolve(new Response('<html>Bad Gateway</html>', { status: 502, statusText: 'Bad Gateway' })),
    );
    const error = await rejection(request('/api/tasks', { fetch }));
    expect(error.message).toBe('Request failed: 502 Bad Gateway');
    expect(error.status).toBe(502);
    expect(error.code).toBeUndefined();
  });

  it('falls back to the status line when JSON has no message', async () => {
    const fetch = vi.fn(() => Promise.resolve(jsonResponse(500, { error: 'internal' })));
    const error = await rejection(request('/api/tasks', { fetch }));
    expect(error.message).toBe('Request failed: 500');
    expect(error.code).toBe('internal');
  });

  it('lets network failures through unchanged', async () => {
    const failure = new TypeError('Failed to fetch');
    const fetch = vi.fn(() => Promise.reject(failure));
    await expect(request('/health', { fetch })).rejects.toBe(failure);
  });

  it('sends JSON bodies with the right headers', async () => {
    const fetch = vi.fn<typeof globalThis.fetch>(() => Promise.resolve(jsonResponse(201, { id: 't1' })));
    const created = await requestJson<{ id: string }>('/api/tasks', {
      method: 'POST',
      json: { title: 'Write tests' },
      fetch,
    });
    expect(created).toEqual({ id: 't1' });
    const init = fetch.mock.calls[0]?.[1];
    expect(init?.method).toBe('POST');
    expect(init?.body).toBe('{"title":"Write tests"}');
    const headers = new Headers(init?.headers);
    expect(headers.get('Content-Type')).toBe('application/json');
    expect(headers.get('Accept')).toBe('application/json');
  });

  it('uses the global fetch by default and returns undefined for 204', async () => {
    const fetch = vi.fn(() => Promise.resolve(new Response(null, { status: 204 })));
    vi.stubGlobal('fetch', fetch);
    await expect(requestJson('/api/tasks/1', { method: 'DELETE' })).resolves.toBeUndefined();
    expect(fetch).toHaveBeenCalledOnce();
  });
});

describe('errorFromBody', () => {
  it('keeps the field a 422 names', () => {
    const error = errorFromBody(422, 'Unprocessable Entity', {
      error: 'invalid',
      message: 'a task needs a title',
      field: 'title',
    });
    expect(error.message).toBe('a task needs a title');
    expect(error.field).toBe('title');
    expect(error.code).toBe('invalid');
  });

  it('marks conflicts and unknown ids', () => {
    expect(errorFromBody(409, '', { error: 'conflict', message: 'merge conflict in a.txt' }).isConflict).toBe(true);
    expect(errorFromBody(404, '', { error: 'not_found', message: 'no such task' }).isNotFound).toBe(true);
  });

  it('falls back to the status line for text bodies', () => {
    expect(errorFromBody(502, 'Bad Gateway', 'upstream down').message).toBe('Request failed: 502 Bad Gateway');
    expect(errorFromBody(500, '', null).message).toBe('Request failed: 500');
  });
});

describe('describeError', () => {
  it("shows the server's message, or says the server is unreachable", () => {
    expect(describeError(new ApiError('the run already ended', 409, 'conflict'))).toBe('the run already ended');
    expect(describeError(new TypeError('Failed to fetch'))).toMatch(/could not be reached/);
    expect(describeError(new Error('boom'))).toBe('boom');
    expect(describeError('?')).toBe('Something went wrong.');
  });
});
