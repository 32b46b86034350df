/** Sign in (team mode): e-mail and password; the server's message on refusal. */
import { useId, useState, type SyntheticEvent } from 'react';
import { describeError } from '../api/client.ts';
import { href } from '../router.ts';
import { Field } from '../widgets/Field.tsx';
import { useAuth } from './context.ts';

export function LoginPage({ expired = false }: { expired?: boolean }) {
  const auth = useAuth();
  const id = useId();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await auth.login(email.trim(), password);
      if (window.location.hash.startsWith('#/login') || window.location.hash.startsWith('#/register')) {
        window.location.hash = '#/';
      }
    } catch (failure) {
      setError(describeError(failure));
      setBusy(false);
    }
  };

  return (
    <div className="auth-page">
      <form className="panel form auth-form" onSubmit={(event) => void submit(event)} aria-label="Sign in">
        <h2 className="page-title">Sign in</h2>
        {expired && !error && <p className="muted">Your session ended. Sign in again.</p>}
        <Field id={`${id}-email`} label="E-mail">
          <input
            id={`${id}-email`}
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(event) => {
              setEmail(event.target.value);
            }}
          />
        </Field>
        <Field id={`${id}-password`} label="Password">
          <input
            id={`${id}-password`}
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(event) => {
              setPassword(event.target.value);
            }}
          />
        </Field>
        {error && (
          <p className="inline-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p className="muted">
          Have an invite? <a href={href({ name: 'register', invite: null })}>Create your account</a>
        </p>
      </form>
    </div>
  );
}
