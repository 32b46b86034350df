/**
 * Create an account (team mode): the very first one becomes the admin and needs no invite;
 * later ones need the invite code from their link. Field errors show at their field.
 */
import { useId, useState, type SyntheticEvent } from 'react';
import { ApiError, describeError } from '../api/client.ts';
import { href } from '../router.ts';
import { Field } from '../widgets/Field.tsx';
import { useAuth } from './context.ts';

type FieldName = 'email' | 'name' | 'password' | 'invite';

export function RegisterPage({ firstAdmin, invite: initialInvite }: { firstAdmin: boolean; invite: string | null }) {
  const auth = useAuth();
  const id = useId();
  const [values, setValues] = useState({ email: '', name: '', password: '', invite: initialInvite ?? '' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ field: FieldName | null; message: string } | null>(null);

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await auth.register({
        email: values.email.trim(),
        name: values.name.trim(),
        password: values.password,
        ...(firstAdmin || !values.invite.trim() ? {} : { invite: values.invite.trim() }),
      });
      window.location.hash = '#/';
    } catch (failure) {
      const field = failure instanceof ApiError ? failure.field : undefined;
      setError({
        field: field === 'email' || field === 'name' || field === 'password' || field === 'invite' ? field : null,
        message: describeError(failure),
      });
      setBusy(false);
    }
  };

  const errorFor = (field: FieldName) => (error?.field === field ? error.message : undefined);
  const input = (field: FieldName, type: string, autoComplete: string) => (
    <input
      id={`${id}-${field}`}
      type={type}
      autoComplete={autoComplete}
      required={field !== 'invite'}
      aria-invalid={error?.field === field ? true : undefined}
      aria-describedby={error?.field === field ? `${id}-${field}-error` : undefined}
      value={values[field]}
      onChange={(event) => {
        setValues({ ...values, [field]: event.target.value });
      }}
    />
  );

  return (
    <div className="auth-page">
      <form className="panel form auth-form" onSubmit={(event) => void submit(event)} aria-label="Create account">
        <h2 className="page-title">{firstAdmin ? 'Create the admin account' : 'Create your account'}</h2>
        {firstAdmin && <p className="muted">Nobody has registered yet: this first account administers the server.</p>}
        <Field id={`${id}-email`} label="E-mail" error={errorFor('email')}>
          {input('email', 'email', 'username')}
        </Field>
        <Field id={`${id}-name`} label="Name" error={errorFor('name')}>
          {input('name', 'text', 'name')}
        </Field>
        <Field id={`${id}-password`} label="Password" hint="At least 10 characters." error={errorFor('password')}>
          {input('password', 'password', 'new-password')}
        </Field>
        {!firstAdmin && (
          <Field id={`${id}-invite`} label="Invite code" error={errorFor('invite')}>
            {input('invite', 'text', 'off')}
          </Field>
        )}
        {error?.field === null && (
          <p className="inline-error" role="alert">
            {error.message}
          </p>
        )}
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create account'}
        </button>
        {!firstAdmin && (
          <p className="muted">
            Have an account? <a href={href({ name: 'login' })}>Sign in</a>
          </p>
        )}
      </form>
    </div>
  );
}
