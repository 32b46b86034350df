import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeServer, json } from '../test/fakes.ts';
import { Auth, refreshDelayMs } from './auth.ts';

const user = { id: 'u1', email: 'a@example.com', name: 'Ada', role: 'admin', disabled: false, created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z' };
const session = (token: string, expiresIn = 900) => ({ access_token: token, token_type: 'Bearer', expires_in: expiresIn, user });

let auth: Auth;
beforeEach(() => {
  auth = new Auth();
});
afterEach(() => {
  auth.dispose();
  vi.useRealTimers();
});

describe('Auth', () => {
  it('is local when the server says so (or has no mode endpoint)', async () => {
    fakeServer().on('GET /api/auth/mode', { mode: 'local' });
    await auth.start();
    expect(auth.getState()).toEqual({ status: 'local' });
    const other = new Auth();
    fakeServer();
    await other.start();
    expect(other.getState()).toEqual({ status: 'local' });
  });

  it('restores the session silently from the refresh cookie', async () => {
    fakeServer().on('GET /api/auth/mode', { mode: 'team', registration: 'invite' }).on('POST /api/auth/refresh', session('t1'));
    await auth.start();
    expect(auth.getState()).toEqual({ status: 'signed_in', user });
    expect(auth.accessToken).toBe('t1');
  });

  it('is signed out when the refresh is refused, and knows the first account is still to come', async () => {
    fakeServer()
      .on('GET /api/auth/mode', { mode: 'team', registration: 'first_admin' })
      .on('POST /api/auth/refresh', () => json(401, { error: 'unauthorized', message: 'no session' }));
    await auth.start();
    expect(auth.getState()).toEqual({ status: 'signed_out', registration: 'first_admin', expired: false });
    expect(auth.accessToken).toBeNull();
  });

  it('refreshes before the token expires', async () => {
    vi.useFakeTimers();
    let n = 0;
    const server = fakeServer()
      .on('GET /api/auth/mode', { mode: 'team' })
      .on('POST /api/auth/refresh', () => session(`t${++n}`, 100));
    await auth.start();
    expect(auth.accessToken).toBe('t1');
    expect(refreshDelayMs(100)).toBe(75_000);
    await vi.advanceTimersByTimeAsync(74_000);
    expect(auth.accessToken).toBe('t1');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(auth.accessToken).toBe('t2');
    expect(server.requests.filter((r) => r.path === '/api/auth/refresh')).toHaveLength(2);
  });

  it('sends the bearer token, and on 401 refreshes once and retries once', async () => {
    let n = 0;
    const seen: (string | null)[] = [];
    const server = fakeServer()
      .on('GET /api/auth/mode', { mode: 'team' })
      .on('POST /api/auth/refresh', () => session(`t${++n}`))
      .on('GET /api/projects', (request: Request) => {
        seen.push(request.headers.get('Authorization'));
        return request.headers.get('Authorization') === 'Bearer t2' ? [] : json(401, { error: 'unauthorized', message: 'expired' });
      });
    await auth.start();
    const response = await auth.fetch(new Request('http://localhost/api/projects'));
    expect(response.status).toBe(200);
    expect(seen).toEqual(['Bearer t1', 'Bearer t2']);
    expect(server.requests.filter((r) => r.path === '/api/auth/refresh')).toHaveLength(2);
  });

  it('does not retry twice, and signs out when the refresh fails', async () => {
    let refreshes = 0;
    const server = fakeServer()
      .on('GET /api/auth/mode', { mode: 'team' })
      .on('POST /api/auth/refresh', () => (++refreshes === 1 ? session('t1') : json(401, { error: 'unauthorized', message: 'gone' })))
      .on('GET /api/projects', () => json(401, { error: 'unauthorized', message: 'expired' }));
    await auth.start();
    const response = await auth.fetch(new Request('http://localhost/api/projects'));
    expect(response.status).toBe(401);
    expect(server.requests.filter((r) => r.path === '/api/projects')).toHaveLength(1);
    expect(auth.getState()).toEqual({ status: 'signed_out', registration: 'invite', expired: true });
  });

  it('shares one refresh between requests that fail together', async () => {
    let n = 0;
    const server = fakeServer()
      .on('GET /api/auth/mode', { mode: 'team' })
      .on('POST /api/auth/refresh', () => session(`t${++n}`))
      .on('GET /api/projects', (request: Request) =>
        request.headers.get('Authorization') === 'Bearer t1' ? json(401, { error: 'unauthorized', message: 'x' }) : [],
      );
    await auth.start();
    const answers = await Promise.all([1, 2, 3].map(() => auth.fetch(new Request('http://localhost/api/projects'))));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(server.requests.filter((r) => r.path === '/api/auth/refresh')).toHaveLength(2);
  });

  it('logs in, and logs out: the token is gone and no refresh is scheduled', async () => {
    vi.useFakeTimers();
    const server = fakeServer()
      .on('GET /api/auth/mode', { mode: 'team' })
      .on('POST /api/auth/refresh', () => json(401, { error: 'unauthorized', message: 'no' }))
      .on('POST /api/auth/login', session('t9', 10))
      .on('POST /api/auth/logout', () => new Response(null, { status: 204 }));
    await auth.start();
    await auth.login('a@example.com', 'secret-password');
    expect(auth.getState()).toEqual({ status: 'signed_in', user });
    await auth.logout();
    const logout = server.requests.find((r) => r.path === '/api/auth/logout');
    expect(logout).toBeDefined();
    expect(auth.accessToken).toBeNull();
    expect(auth.getState()).toMatchObject({ status: 'signed_out', expired: false });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.requests.filter((r) => r.path === '/api/auth/refresh')).toHaveLength(1);
  });

  it('shows the wait on too many attempts', async () => {
    fakeServer()
      .on('GET /api/auth/mode', { mode: 'team' })
      .on('POST /api/auth/refresh', () => json(401, { error: 'unauthorized', message: 'no' }))
      .on('POST /api/auth/login', () => new Response(JSON.stringify({ error: 'too_many', message: 'Too many attempts.' }), { status: 429, headers: { 'Retry-After': '30', 'Content-Type': 'application/json' } }));
    await auth.start();
    await expect(auth.login('a@example.com', 'x')).rejects.toThrow('Too many attempts. Try again in 30 s.');
  });
});
