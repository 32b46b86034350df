/**
 * Who is signed in, and the access token every request carries in team mode.
 *
 * The state machine: `loading` (asking `/api/auth/mode`, then `/api/auth/refresh`) ends in
 * `local` (the server's local mode: the launch cookie does the work, nothing to sign in to),
 * `signed_in` or `signed_out`. A session's access token lives in memory only; the refresh token
 * is an HttpOnly cookie the browser sends to `/api/auth/refresh`. A refresh is scheduled before
 * the token expires, and an answer of 401 triggers one refresh and one retry of the request; a
 * refresh the server refuses signs out.
 */
import createClient from 'openapi-fetch';
import { errorFromBody } from './client.ts';
import type { paths } from './schema.ts';
import type { components } from './schema.ts';

export type User = components['schemas']['User'];
export type Session = components['schemas']['Session'];
export type Registration = 'first_admin' | 'invite';

export type AuthState =
  | { status: 'loading' }
  | { status: 'local' }
  | { status: 'signed_out'; registration: Registration; expired: boolean }
  | { status: 'signed_in'; user: User };

export interface AuthOptions {
  /** Looked up per call (tests stub the global fetch); defaults to the global fetch. */
  fetch?: (request: Request) => Promise<Response>;
  baseUrl?: string;
}

/** Seconds before expiry at which the session is refreshed: a quarter of its life, at most 60 s. */
export function refreshDelayMs(expiresIn: number): number {
  const margin = Math.min(60, expiresIn / 4);
  return Math.max(1, expiresIn - margin) * 1000;
}

/** After a refresh failed for lack of network, try again this soon. */
export const REFRESH_RETRY_MS = 5_000;

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

async function unwrap<T>(call: Promise<Answer<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) {
    const failure = errorFromBody(response.status, response.statusText, error);
    const retryAfter = response.headers.get('Retry-After');
    if (response.status === 429 && retryAfter && !/\d/.test(failure.message)) {
      failure.message = `${failure.message} Try again in ${retryAfter} s.`;
    }
    throw failure;
  }
  return data as T;
}

export class Auth {
  private current: AuthState = { status: 'loading' };
  private token: string | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private refreshing: Promise<boolean> | null = null;
  private starting: Promise<void> | null = null;
  private registration: Registration = 'invite';
  private readonly listeners = new Set<() => void>();
  private readonly plain;
  private readonly authed;

  constructor(private readonly options: AuthOptions = {}) {
    const baseUrl = options.baseUrl ?? globalThis.location.origin;
    const raw = (request: Request) => (this.options.fetch ?? ((r: Request) => globalThis.fetch(r)))(request);
    this.plain = createClient<paths>({ baseUrl, fetch: raw, credentials: 'same-origin' });
    this.authed = createClient<paths>({ baseUrl, fetch: (request) => this.fetch(request), credentials: 'same-origin' });
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getState = (): AuthState => this.current;

  /** The access token, while signed in (for WebSocket URLs). */
  get accessToken(): string | null {
    return this.token;
  }

  get isTeam(): boolean {
    return this.current.status === 'signed_in' || this.current.status === 'signed_out';
  }

  private set(state: AuthState): void {
    this.current = state;
    for (const listener of [...this.listeners]) listener();
  }

  /** Asks the server how it signs people in, then restores the session from the cookie. */
  start(): Promise<void> {
    this.starting ??= this.begin();
    return this.starting;
  }

  private async begin(): Promise<void> {
    let mode: { mode: string; registration?: string | null } | undefined;
    try {
      const answer = await this.plain.GET('/api/auth/mode');
      mode = answer.response.ok ? answer.data : undefined;
    } catch {
      mode = undefined;
    }
    // An older server (no such endpoint) or no answer at all: the local mode, as before.
    if (mode?.mode !== 'team') {
      this.set({ status: 'local' });
      return;
    }
    this.registration = mode.registration === 'first_admin' ? 'first_admin' : 'invite';
    if (!(await this.refresh())) this.signedOut(false);
  }

  /** A new session from the refresh cookie; false (and signed out, if the server said no). */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    let answer;
    try {
      answer = await this.plain.POST('/api/auth/refresh');
    } catch {
      // No network: keep the session and try again shortly.
      if (this.current.status === 'signed_in') this.schedule(REFRESH_RETRY_MS);
      return false;
    }
    if (answer.response.ok && answer.data) {
      this.accept(answer.data);
      return true;
    }
    if (this.current.status === 'signed_in') this.signedOut(true);
    return false;
  }

  /** Takes a session the server handed out: keeps the token, schedules its refresh. */
  accept(session: Session): void {
    this.token = session.access_token;
    this.registration = 'invite';
    this.schedule(refreshDelayMs(session.expires_in));
    this.set({ status: 'signed_in', user: session.user });
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.refresh();
    }, ms);
  }

  private signedOut(expired: boolean): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.token = null;
    this.set({ status: 'signed_out', registration: this.registration, expired });
  }

  /** Fetch with the bearer token; on 401 refreshes once and retries once. */
  readonly fetch = async (request: Request): Promise<Response> => {
    const send = (this.options.fetch ?? ((r: Request) => globalThis.fetch(r)));
    if (!this.isTeam) return send(request);
    const retry = request.clone();
    const used = this.token;
    const response = await send(withToken(request, used));
    if (response.status !== 401) return response;
    // Someone else refreshed while this request was out: just use the newer token.
    const fresh = this.token !== used && this.token !== null ? true : await this.refresh();
    if (!fresh) return response;
    return send(withToken(retry, this.token));
  };

  async login(email: string, password: string): Promise<User> {
    const session = await unwrap(this.plain.POST('/api/auth/login', { body: { email, password } }));
    this.accept(session);
    return session.user;
  }

  async register(body: { email: string; name: string; password: string; invite?: string | null }): Promise<User> {
    const session = await unwrap(this.plain.POST('/api/auth/register', { body }));
    this.accept(session);
    return session.user;
  }

  async logout(): Promise<void> {
    try {
      await this.authed.POST('/api/auth/logout');
    } catch {
      // Signed out here either way; the refresh cookie expires on its own.
    }
    this.signedOut(false);
  }

  async rename(name: string): Promise<User> {
    const user = await unwrap(this.authed.PATCH('/api/auth/me', { body: { name } }));
    if (this.current.status === 'signed_in') this.set({ status: 'signed_in', user });
    return user;
  }

  async changePassword(currentPassword: string, newPassword: string): Promise<void> {
    const session = await unwrap(
      this.authed.POST('/api/auth/password', { body: { current_password: currentPassword, new_password: newPassword } }),
    );
    this.accept(session);
  }

  /** Stops the refresh timer (tests). */
  dispose(): void {
    clearTimeout(this.timer);
  }
}

function withToken(request: Request, token: string | null): Request {
  if (!token) return request;
  const headers = new Headers(request.headers);
  headers.set('Authorization', `Bearer ${token}`);
  return new Request(request, { headers });
}

/** The app's one session. */
export const auth = new Auth();
