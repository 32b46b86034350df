/** The signed-in user in the header: name and role, change name or password, sign out. */
import { useEffect, useId, useRef, useState, type SyntheticEvent } from 'react';
import type { User } from '../api/auth.ts';
import { describeError } from '../api/client.ts';
import { href } from '../router.ts';
import { Dialog } from '../widgets/Dialog.tsx';
import { Field } from '../widgets/Field.tsx';
import { useNotify } from '../widgets/notices.ts';
import { useAuth } from './context.ts';

export function UserMenu({ user }: { user: User }) {
  const auth = useAuth();
  const [open, setOpen] = useState(false);
  const [dialog, setDialog] = useState<'name' | 'password' | null>(null);
  const ref = useRef<HTMLDivElement>(null);
  const menuId = useId();

  useEffect(() => {
    if (!open) return;
    const onDown = (event: MouseEvent) => {
      if (!ref.current?.contains(event.target as Node)) setOpen(false);
    };
    document.addEventListener('mousedown', onDown);
    return () => {
      document.removeEventListener('mousedown', onDown);
    };
  }, [open]);

  const pick = (what: 'name' | 'password') => {
    setOpen(false);
    setDialog(what);
  };

  return (
    <div className="user-menu" ref={ref}>
      <button
        type="button"
        className="button user-menu-button"
        aria-haspopup="true"
        aria-expanded={open}
        aria-controls={menuId}
        onClick={() => {
          setOpen(!open);
        }}
      >
        {user.name}
        {user.role === 'admin' && <span className="chip user-role">admin</span>}
      </button>
      {open && (
        <div
          className="user-menu-popup panel"
          id={menuId}
          onKeyDown={(event) => {
            if (event.key === 'Escape') setOpen(false);
          }}
        >
          <p className="user-menu-who">
            <strong>{user.name}</strong>
            <span className="muted">{user.email}</span>
            <span className="muted">Role: {user.role}</span>
          </p>
          {user.role === 'admin' && (
            <a className="link-button" href={href({ name: 'admin' })} onClick={() => { setOpen(false); }}>
              Admin console
            </a>
          )}
          <button type="button" className="link-button" onClick={() => { pick('name'); }}>
            Change name
          </button>
          <button type="button" className="link-button" onClick={() => { pick('password'); }}>
            Change password
          </button>
          <button
            type="button"
            className="link-button"
            onClick={() => {
              setOpen(false);
              void auth.logout().then(() => {
                window.location.hash = '#/login';
              });
            }}
          >
            Sign out
          </button>
        </div>
      )}
      {dialog === 'name' && <NameDialog user={user} onClose={() => { setDialog(null); }} />}
      {dialog === 'password' && <PasswordDialog onClose={() => { setDialog(null); }} />}
    </div>
  );
}

function NameDialog({ user, onClose }: { user: User; onClose: () => void }) {
  const auth = useAuth();
  const notify = useNotify();
  const id = useId();
  const [name, setName] = useState(user.name);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      await auth.rename(name.trim());
      notify('success', 'Name changed');
      onClose();
    } catch (failure) {
      setError(describeError(failure));
      setBusy(false);
    }
  };
  return (
    <Dialog title="Change name" onClose={onClose}>
      <form className="form" onSubmit={(event) => void submit(event)}>
        <Field id={id} label="Name" error={error ?? undefined}>
          <input id={id} required value={name} onChange={(event) => { setName(event.target.value); }} />
        </Field>
        <footer className="dialog-actions">
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button button-primary" disabled={busy}>
            Save
          </button>
        </footer>
      </form>
    </Dialog>
  );
}

function PasswordDialog({ onClose }: { onClose: () => void }) {
  const auth = useAuth();
  const notify = useNotify();
  const id = useId();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      await auth.changePassword(current, next);
      notify('success', 'Password changed');
      onClose();
    } catch (failure) {
      setError(describeError(failure));
      setBusy(false);
    }
  };
  return (
    <Dialog title="Change password" onClose={onClose}>
      <form className="form" onSubmit={(event) => void submit(event)}>
        <Field id={`${id}-current`} label="Current password">
          <input id={`${id}-current`} type="password" autoComplete="current-password" required value={current} onChange={(event) => { setCurrent(event.target.value); }} />
        </Field>
        <Field id={`${id}-new`} label="New password" hint="At least 10 characters.">
          <input id={`${id}-new`} type="password" autoComplete="new-password" required value={next} onChange={(event) => { setNext(event.target.value); }} />
        </Field>
        {error && (
          <p className="inline-error" role="alert">
            {error}
          </p>
        )}
        <footer className="dialog-actions">
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button button-primary" disabled={busy}>
            Change password
          </button>
        </footer>
      </form>
    </Dialog>
  );
}
