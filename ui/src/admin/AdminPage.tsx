/**
 * The admin console (team mode, admins only): users, invites, the audit log, every project, and
 * the server-wide settings.
 */
import { useCallback, useEffect, useId, useState, type SyntheticEvent } from 'react';
import { describeError } from '../api/client.ts';
import { api } from '../api/endpoints.ts';
import type { AuditEntry, CreatedInvite, Project, Role, User } from '../api/types.ts';
import { useCurrentUser } from '../auth/context.ts';
import { href } from '../router.ts';
import { ConfirmDialog, Dialog } from '../widgets/Dialog.tsx';
import { Field } from '../widgets/Field.tsx';
import { useNotify } from '../widgets/notices.ts';
import { AgentsSection } from '../agents/AgentsSection.tsx';
import { QueueSection } from '../queue/QueueSection.tsx';
import { SecuritySection } from '../security/SecuritySection.tsx';
import { AUDIT_PAGE, inviteLink, inviteState } from './invites.ts';

type Tab = 'users' | 'invites' | 'audit' | 'projects' | 'settings';
const TABS: { id: Tab; label: string }[] = [
  { id: 'users', label: 'Users' },
  { id: 'invites', label: 'Invites' },
  { id: 'audit', label: 'Audit log' },
  { id: 'projects', label: 'Projects' },
  { id: 'settings', label: 'Settings' },
];

export function AdminPage() {
  const [tab, setTab] = useState<Tab>('users');
  return (
    <div className="admin-page">
      <h2 className="page-title">Admin console</h2>
      <div className="tabs" role="tablist" aria-label="Admin sections">
        {TABS.map((t) => (
          <button
            key={t.id}
            type="button"
            role="tab"
            aria-selected={tab === t.id}
            className={tab === t.id ? 'tab tab-selected' : 'tab'}
            onClick={() => {
              setTab(t.id);
            }}
          >
            {t.label}
          </button>
        ))}
      </div>
      <section className="panel" role="tabpanel" aria-label={TABS.find((t) => t.id === tab)?.label}>
        {tab === 'users' && <UsersSection />}
        {tab === 'invites' && <InvitesSection />}
        {tab === 'audit' && <AuditSection />}
        {tab === 'projects' && <ProjectsSection />}
        {tab === 'settings' && <SettingsSection />}
      </section>
    </div>
  );
}

function useLoad<T>(load: () => Promise<T>) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reload = useCallback(() => {
    load().then(
      (value) => {
        setData(value);
        setError(null);
      },
      (failure: unknown) => {
        setError(describeError(failure));
      },
    );
  }, [load]);
  useEffect(reload, [reload]);
  return { data, error, reload };
}

const when = (at: string | null | undefined) => (at ? new Date(at).toLocaleString() : '');

// Users

export function UsersSection() {
  const me = useCurrentUser();
  const notify = useNotify();
  const { data: users, error, reload } = useLoad(api.users);
  const [dialog, setDialog] = useState<{ kind: 'create' } | { kind: 'delete' | 'password'; user: User } | null>(null);
  const [busy, setBusy] = useState(false);
  const [dialogError, setDialogError] = useState<string | null>(null);

  const update = async (user: User, change: Parameters<typeof api.updateUser>[1], done: string) => {
    try {
      await api.updateUser(user.id, change);
      notify('success', done);
      reload();
    } catch (failure) {
      notify('error', describeError(failure));
    }
  };

  const close = () => {
    setDialog(null);
    setDialogError(null);
    setBusy(false);
  };

  return (
    <div>
      <div className="section-head">
        <h3 className="panel-title">Users</h3>
        <button type="button" className="button button-primary" onClick={() => { setDialog({ kind: 'create' }); }}>
          New user
        </button>
      </div>
      {error && <p className="inline-error" role="alert">{error}</p>}
      {users && (
        <table className="table">
          <thead>
            <tr>
              <th>Name</th>
              <th>E-mail</th>
              <th>Role</th>
              <th>State</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {users.map((user) => (
              <tr key={user.id}>
                <td>{user.name}{user.id === me?.id && <span className="muted"> (you)</span>}</td>
                <td className="mono">{user.email}</td>
                <td>
                  <select
                    aria-label={`Role of ${user.email}`}
                    value={user.role}
                    onChange={(event) => {
                      void update(user, { role: event.target.value as Role }, `${user.email} is now ${event.target.value}`);
                    }}
                  >
                    <option value="member">member</option>
                    <option value="admin">admin</option>
                  </select>
                </td>
                <td>{user.disabled ? 'disabled' : 'active'}</td>
                <td>
                  <div className="table-actions">
                  <button
                    type="button"
                    className="button button-small"
                    onClick={() => {
                      void update(user, { disabled: !user.disabled }, `${user.email} ${user.disabled ? 'enabled' : 'disabled'}`);
                    }}
                  >
                    {user.disabled ? 'Enable' : 'Disable'}
                  </button>
                  <button type="button" className="button button-small" onClick={() => { setDialog({ kind: 'password', user }); }}>
                    Reset password
                  </button>
                  <button type="button" className="button button-small button-danger-quiet" onClick={() => { setDialog({ kind: 'delete', user }); }}>
                    Delete
                  </button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {dialog?.kind === 'create' && (
        <UserForm
          onClose={close}
          onCreated={() => {
            close();
            reload();
          }}
        />
      )}
      {dialog?.kind === 'password' && (
        <PasswordReset
          user={dialog.user}
          onClose={close}
          onDone={() => {
            notify('success', `Password of ${dialog.user.email} reset`);
            close();
          }}
        />
      )}
      {dialog?.kind === 'delete' && (
        <ConfirmDialog
          title="Delete user"
          confirm="Delete"
          busy={busy}
          error={dialogError}
          onClose={close}
          onConfirm={() => {
            setBusy(true);
            api.deleteUser(dialog.user.id).then(
              () => {
                notify('success', `${dialog.user.email} deleted`);
                close();
                reload();
              },
              (failure: unknown) => {
                setDialogError(describeError(failure));
                setBusy(false);
              },
            );
          }}
        >
          <p>
            Delete <strong>{dialog.user.email}</strong>? Their memberships and sessions go too; their projects stay.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}

function UserForm({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }) {
  const id = useId();
  const [values, setValues] = useState({ email: '', name: '', password: '', role: 'member' as Role });
  const [error, setError] = useState<{ field?: string | undefined; message: string } | null>(null);
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    try {
      await api.createUser({ email: values.email.trim(), name: values.name.trim(), password: values.password, role: values.role });
      onCreated();
    } catch (failure) {
      setError({ field: (failure as { field?: string }).field, message: describeError(failure) });
    }
  };
  const at = (field: string) => (error?.field === field ? error.message : undefined);
  return (
    <Dialog title="New user" onClose={onClose}>
      <form className="form" onSubmit={(event) => void submit(event)}>
        <Field id={`${id}-email`} label="E-mail" error={at('email')}>
          <input id={`${id}-email`} type="email" required value={values.email} onChange={(e) => { setValues({ ...values, email: e.target.value }); }} />
        </Field>
        <Field id={`${id}-name`} label="Name" error={at('name')}>
          <input id={`${id}-name`} required value={values.name} onChange={(e) => { setValues({ ...values, name: e.target.value }); }} />
        </Field>
        <Field id={`${id}-password`} label="Password" hint="At least 10 characters." error={at('password')}>
          <input id={`${id}-password`} type="password" required value={values.password} onChange={(e) => { setValues({ ...values, password: e.target.value }); }} />
        </Field>
        <Field id={`${id}-role`} label="Role">
          <select id={`${id}-role`} value={values.role} onChange={(e) => { setValues({ ...values, role: e.target.value as Role }); }}>
            <option value="member">member</option>
            <option value="admin">admin</option>
          </select>
        </Field>
        {error && !['email', 'name', 'password'].includes(error.field ?? '') && <p className="inline-error" role="alert">{error.message}</p>}
        <footer className="dialog-actions">
          <button type="button" className="button" onClick={onClose}>Cancel</button>
          <button type="submit" className="button button-primary">Create user</button>
        </footer>
      </form>
    </Dialog>
  );
}

function PasswordReset({ user, onClose, onDone }: { user: User; onClose: () => void; onDone: () => void }) {
  const id = useId();
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    try {
      await api.updateUser(user.id, { password });
      onDone();
    } catch (failure) {
      setError(describeError(failure));
    }
  };
  return (
    <Dialog title={`Reset password of ${user.email}`} onClose={onClose}>
      <form className="form" onSubmit={(event) => void submit(event)}>
        <Field id={id} label="New password" hint="At least 10 characters; their sessions end." error={error ?? undefined}>
          <input id={id} type="password" required value={password} onChange={(e) => { setPassword(e.target.value); }} />
        </Field>
        <footer className="dialog-actions">
          <button type="button" className="button" onClick={onClose}>Cancel</button>
          <button type="submit" className="button button-primary">Reset password</button>
        </footer>
      </form>
    </Dialog>
  );
}

// Invites

export function InvitesSection() {
  const notify = useNotify();
  const id = useId();
  const { data: invites, error, reload } = useLoad(api.invites);
  const [form, setForm] = useState({ email: '', role: 'member' as Role, hours: '' });
  const [created, setCreated] = useState<CreatedInvite | null>(null);
  const [formError, setFormError] = useState<string | null>(null);

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    setFormError(null);
    try {
      const hours = form.hours.trim() ? Number(form.hours) : null;
      const answer = await api.createInvite({
        role: form.role,
        ...(form.email.trim() ? { email: form.email.trim() } : {}),
        ...(hours !== null ? { expires_in_hours: hours } : {}),
      });
      setCreated(answer);
      setForm({ email: '', role: 'member', hours: '' });
      reload();
    } catch (failure) {
      setFormError(describeError(failure));
    }
  };

  const link = created ? inviteLink(created.code) : '';

  return (
    <div>
      <h3 className="panel-title">Invites</h3>
      <form className="form form-inline" onSubmit={(event) => void submit(event)} aria-label="New invite">
        <Field id={`${id}-email`} label="E-mail (optional)">
          <input id={`${id}-email`} type="email" value={form.email} onChange={(e) => { setForm({ ...form, email: e.target.value }); }} />
        </Field>
        <Field id={`${id}-role`} label="Role">
          <select id={`${id}-role`} value={form.role} onChange={(e) => { setForm({ ...form, role: e.target.value as Role }); }}>
            <option value="member">member</option>
            <option value="admin">admin</option>
          </select>
        </Field>
        <Field id={`${id}-hours`} label="Expires in hours (default 72)">
          <input id={`${id}-hours`} type="number" min={1} max={720} value={form.hours} onChange={(e) => { setForm({ ...form, hours: e.target.value }); }} />
        </Field>
        <button type="submit" className="button button-primary">Create invite</button>
      </form>
      {formError && <p className="inline-error" role="alert">{formError}</p>}
      {created && (
        <div className="invite-created" role="status">
          <p>Invite created. The link is shown only now:</p>
          <div className="invite-link">
            <input readOnly aria-label="Invite link" className="mono" value={link} onFocus={(e) => { e.currentTarget.select(); }} />
            <button
              type="button"
              className="button"
              onClick={() => {
                navigator.clipboard.writeText(link).then(
                  () => { notify('success', 'Link copied'); },
                  () => { notify('error', 'Could not copy: select the link and copy it by hand.'); },
                );
              }}
            >
              Copy link
            </button>
          </div>
        </div>
      )}
      {error && <p className="inline-error" role="alert">{error}</p>}
      {invites && (
        <table className="table">
          <thead>
            <tr>
              <th>For</th>
              <th>Role</th>
              <th>Created</th>
              <th>Expires</th>
              <th>State</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {invites.length === 0 && (
              <tr><td colSpan={6} className="muted">No invites yet.</td></tr>
            )}
            {invites.map((invite) => {
              const state = inviteState(invite);
              return (
                <tr key={invite.id}>
                  <td>{invite.email ?? <span className="muted">anyone</span>}</td>
                  <td>{invite.role}</td>
                  <td>{when(invite.created_at)}</td>
                  <td>{when(invite.expires_at)}</td>
                  <td><span className={`chip invite-${state}`}>{state}</span></td>
                  <td>
                    {state === 'open' && (
                      <button
                        type="button"
                        className="button button-small button-danger-quiet"
                        onClick={() => {
                          api.revokeInvite(invite.id).then(
                            () => { notify('success', 'Invite revoked'); reload(); },
                            (failure: unknown) => { notify('error', describeError(failure)); },
                          );
                        }}
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}

// Audit log

export function AuditSection() {
  const [entries, setEntries] = useState<AuditEntry[]>([]);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const fetchPage = useCallback((before?: string) => {
    api.audit(before, AUDIT_PAGE).then(
      (page) => {
        setEntries((old) => (before ? [...old, ...page] : page));
        setDone(page.length < AUDIT_PAGE);
        setBusy(false);
      },
      (failure: unknown) => {
        setError(describeError(failure));
        setBusy(false);
      },
    );
  }, []);
  useEffect(() => {
    fetchPage();
  }, [fetchPage]);
  const more = (before?: string) => {
    setBusy(true);
    fetchPage(before);
  };

  return (
    <div>
      <h3 className="panel-title">Audit log</h3>
      {error && <p className="inline-error" role="alert">{error}</p>}
      <table className="table">
        <thead>
          <tr>
            <th>When</th>
            <th>Who</th>
            <th>Action</th>
            <th>Target</th>
            <th>From</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((entry) => (
            <tr key={entry.id}>
              <td>{when(entry.at)}</td>
              <td className="mono">{entry.actor ?? '—'}</td>
              <td>
                {entry.action}
                {entry.details && <span className="muted"> · {entry.details}</span>}
              </td>
              <td className="mono">{entry.target ?? ''}</td>
              <td className="mono">{entry.ip ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {!done && entries.length > 0 && (
        <button type="button" className="button" disabled={busy} onClick={() => { more(entries.at(-1)?.id); }}>
          {busy ? 'Loading…' : 'Older entries'}
        </button>
      )}
    </div>
  );
}

// Projects

function ProjectsSection() {
  const { data: projects, error } = useLoad(api.listProjects);
  return (
    <div>
      <h3 className="panel-title">All projects</h3>
      <p className="muted">
        Admins see every project on the <a href={href({ name: 'projects' })}>projects page</a>.
      </p>
      {error && <p className="inline-error" role="alert">{error}</p>}
      {projects && (
        <ul className="admin-projects">
          {projects.length === 0 && <li className="muted">No projects yet.</li>}
          {projects.map((project: Project) => (
            <li key={project.id}>
              <a href={href({ name: 'board', projectId: project.id })}>{project.name}</a>{' '}
              <span className="muted mono">{project.repo_path}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function SettingsSection() {
  return (
    <div>
      <h3 className="panel-title">Server settings</h3>
      <p className="muted">
        Global credentials (with admin locks that no user or project can override) and the custom
        credential names members may use are on the{' '}
        <a href={href({ name: 'credentials' })}>credentials settings page</a>.
      </p>
      <AgentsSection />
      <QueueSection />
      <SecuritySection />
    </div>
  );
}
