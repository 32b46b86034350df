import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { inviteLink, inviteState } from '../admin/invites.ts';
import { Auth } from '../api/auth.ts';
import { App } from '../App.tsx';
import { EventHub } from '../api/events.ts';
import { MembersPanel } from '../board/MembersPanel.tsx';
import { parseRoute } from '../router.ts';
import { fakeServer, json } from '../test/fakes.ts';
import { renderPage } from '../test/render.tsx';
import { AuthContext } from './context.ts';

const user = { id: 'u1', email: 'a@example.com', name: 'Ada', role: 'member' as const, disabled: false, created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z' };
const team = (registration = 'invite') => fakeServer().on('GET /api/auth/mode', { mode: 'team', registration });

describe('team mode in the app', () => {
  it('shows the first-admin registration, with field errors at their field', async () => {
    const server = team('first_admin')
      .on('POST /api/auth/refresh', () => json(401, { error: 'unauthorized', message: 'no session' }))
      .on('POST /api/auth/register', () => json(422, { error: 'invalid', message: 'at least 10 characters', field: 'password' }));
    const u = userEvent.setup();
    render(<App hub={new EventHub()} auth={new Auth()} />);
    await screen.findByRole('heading', { name: 'Create the admin account' });
    expect(screen.queryByLabelText('Invite code')).not.toBeInTheDocument();
    await u.type(screen.getByLabelText('E-mail'), 'a@example.com');
    await u.type(screen.getByLabelText('Name'), 'Ada');
    await u.type(screen.getByLabelText('Password'), 'short');
    await u.click(screen.getByRole('button', { name: 'Create account' }));
    expect(await screen.findByText('at least 10 characters')).toHaveAttribute('id', expect.stringMatching(/password-error$/));
    expect(screen.getByLabelText('Password')).toHaveAttribute('aria-invalid', 'true');
    expect(server.requests.find((r) => r.path === '/api/auth/register')?.body).toEqual({ email: 'a@example.com', name: 'Ada', password: 'short' });
  });

  it('signs in, shows the user menu, and signs out', async () => {
    window.location.hash = '#/login';
    const server = team()
      .on('POST /api/auth/refresh', () => json(401, { error: 'unauthorized', message: 'no session' }))
      .on('POST /api/auth/login', { access_token: 't1', token_type: 'Bearer', expires_in: 900, user })
      .on('POST /api/auth/logout', () => new Response(null, { status: 204 }))
      .on('GET /api/projects', []);
    const auth = new Auth();
    const u = userEvent.setup();
    render(<App hub={new EventHub()} auth={auth} />);
    await screen.findByRole('heading', { name: 'Sign in' });
    await u.type(screen.getByLabelText('E-mail'), 'a@example.com');
    await u.type(screen.getByLabelText('Password'), 'long enough pw');
    await u.click(screen.getByRole('button', { name: 'Sign in' }));
    await screen.findByText(/No projects yet/);
    const projects = server.requests.find((r) => r.path === '/api/projects');
    expect(projects).toBeDefined();
    await u.click(screen.getByRole('button', { name: /Ada/ }));
    expect(screen.getByText('Role: member')).toBeInTheDocument();
    expect(screen.queryByRole('link', { name: 'Admin console' })).not.toBeInTheDocument();
    await u.click(screen.getByRole('button', { name: 'Sign out' }));
    await screen.findByRole('heading', { name: 'Sign in' });
    expect(auth.accessToken).toBeNull();
    auth.dispose();
  });

  it('reads the invite code from the address', () => {
    expect(parseRoute('#/register?invite=abc')).toEqual({ name: 'register', invite: 'abc' });
    expect(parseRoute('#/register', '?invite=xyz')).toEqual({ name: 'register', invite: 'xyz' });
    expect(parseRoute('#/register')).toEqual({ name: 'register', invite: null });
    expect(inviteLink('a b', 'http://h:1')).toBe('http://h:1/#/register?invite=a%20b');
  });

  it('tells an invite’s state', () => {
    const base = { id: 'i', role: 'member' as const, created_at: '2026-01-01T00:00:00Z', expires_at: '2026-01-10T00:00:00Z' };
    const now = Date.parse('2026-01-05T00:00:00Z');
    expect(inviteState(base, now)).toBe('open');
    expect(inviteState({ ...base, used_at: '2026-01-02T00:00:00Z' }, now)).toBe('used');
    expect(inviteState({ ...base, revoked_at: '2026-01-02T00:00:00Z' }, now)).toBe('revoked');
    expect(inviteState(base, Date.parse('2026-02-01T00:00:00Z'))).toBe('expired');
  });
});

describe('MembersPanel', () => {
  it('lets an owner add and remove members', async () => {
    const auth = new Auth();
    auth.accept({ access_token: 't', token_type: 'Bearer', expires_in: 900, user });
    let members = [{ user_id: 'u1', email: 'a@example.com', name: 'Ada', role: 'owner' }];
    const server = fakeServer()
      .on('GET /api/projects/p1/members', () => members)
      .on('POST /api/projects/p1/members', () => {
        members = [...members, { user_id: 'u2', email: 'b@example.com', name: 'Bob', role: 'member' }];
        return json(201, members[1]);
      })
      .on('DELETE /api/projects/p1/members/u2', () => {
        members = members.slice(0, 1);
        return new Response(null, { status: 204 });
      });
    const u = userEvent.setup();
    renderPage(
      <AuthContext value={auth}>
        <MembersPanel projectId="p1" />
      </AuthContext>,
    );
    await screen.findByText('a@example.com');
    await u.type(screen.getByLabelText('E-mail'), 'b@example.com');
    await u.click(screen.getByRole('button', { name: 'Add member' }));
    await u.click(await screen.findByRole('button', { name: 'Remove b@example.com' }));
    await screen.findByText('a@example.com');
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toContain('DELETE /api/projects/p1/members/u2');
    auth.dispose();
  });

  it('shows a member the list only', async () => {
    const auth = new Auth();
    auth.accept({ access_token: 't', token_type: 'Bearer', expires_in: 900, user });
    fakeServer().on('GET /api/projects/p1/members', [
      { user_id: 'u0', email: 'o@example.com', name: 'Olga', role: 'owner' },
      { user_id: 'u1', email: 'a@example.com', name: 'Ada', role: 'member' },
    ]);
    renderPage(
      <AuthContext value={auth}>
        <MembersPanel projectId="p1" />
      </AuthContext>,
    );
    await screen.findByText('o@example.com');
    expect(screen.queryByRole('button', { name: 'Add member' })).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /Remove/ })).not.toBeInTheDocument();
    auth.dispose();
  });
});
