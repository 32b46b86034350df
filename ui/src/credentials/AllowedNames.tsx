/** Admins allow custom credential names beyond the ones Taskyard knows. */
import { useId, useState, type SubmitEvent } from 'react';
import { ApiError, describeError } from '../api/client.ts';
import { Field } from '../widgets/Field.tsx';
import { useNotify } from '../widgets/notices.ts';
import { credentialsApi, type CredentialNames } from './api.ts';

export function AllowedNames({ names, onSaved }: { names: CredentialNames; onSaved: (names: CredentialNames) => void }) {
  const id = useId();
  const notify = useNotify();
  const [draft, setDraft] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const save = async (allowed: string[]) => {
    setBusy(true);
    setError(null);
    try {
      const saved = await credentialsApi.setAllowed(allowed);
      setDraft('');
      notify('success', 'Saved the allowed names');
      onSaved({ known: names.known ?? [], allowed: Array.isArray(saved.allowed) ? saved.allowed : allowed });
    } catch (caught) {
      setError(caught instanceof ApiError ? caught.message : describeError(caught));
    } finally {
      setBusy(false);
    }
  };

  const add = (event: SubmitEvent) => {
    event.preventDefault();
    const name = draft.trim();
    if (!name) {
      setError('Enter a name, like MY_SERVICE_TOKEN.');
      return;
    }
    if (names.allowed.includes(name)) {
      setError(`${name} is already allowed.`);
      return;
    }
    void save([...names.allowed, name]);
  };

  const inputId = `${id}-name`;
  return (
    <section className="panel credential-tier" aria-labelledby={`${id}-title`}>
      <h3 className="panel-title" id={`${id}-title`}>
        Allowed custom names
      </h3>
      <p className="muted credential-tier-description">
        Besides the names Taskyard knows, values may be stored under these names (environment variable names).
      </p>
      {names.allowed.length === 0 ? (
        <p className="empty-state credential-empty">No custom names allowed.</p>
      ) : (
        <ul className="credential-names">
          {names.allowed.map((name) => (
            <li key={name}>
              <code className="mono">{name}</code>
              <button
                type="button"
                className="button button-small button-danger-quiet"
                aria-label={`Remove ${name}`}
                disabled={busy}
                onClick={() => void save(names.allowed.filter((other) => other !== name))}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      <form className="form form-inline" onSubmit={add} noValidate>
        <Field id={inputId} label="Custom name" error={error ?? undefined}>
          <input
            id={inputId}
            value={draft}
            spellCheck={false}
            autoComplete="off"
            placeholder="MY_SERVICE_TOKEN"
            aria-invalid={error ? true : undefined}
            onChange={(event) => {
              setDraft(event.target.value);
            }}
          />
        </Field>
        <button type="submit" className="button" disabled={busy}>
          Allow
        </button>
      </form>
    </section>
  );
}
