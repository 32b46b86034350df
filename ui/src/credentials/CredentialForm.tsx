/**
 * Sets or replaces one value of a tier. The value is write-only: a password input that is
 * cleared after saving and never filled from the server. Field errors (422) show at their
 * field; a locked global value (409) is explained at the form.
 */
import { useId, useState, type SubmitEvent, type RefObject } from 'react';
import { ApiError, describeError } from '../api/client.ts';
import { Field } from '../widgets/Field.tsx';
import { OAUTH_KEY, keyChoices, type CredentialNames, type CredentialView, type TierApi } from './api.ts';

const OAUTH_HINT =
  'Claude Code signs in with CLAUDE_CODE_OAUTH_TOKEN; it gets ANTHROPIC_API_KEY only when the project allows API billing.';

interface Errors {
  key?: string;
  value?: string;
  form?: string;
}

export function CredentialForm({
  tier,
  names,
  existing,
  keyValue,
  onKeyChange,
  valueRef,
  onSaved,
}: {
  tier: TierApi;
  names: CredentialNames | null;
  existing: CredentialView[];
  keyValue: string;
  onKeyChange: (key: string) => void;
  valueRef: RefObject<HTMLInputElement | null>;
  onSaved: (view: CredentialView) => void;
}) {
  const id = useId();
  const [value, setValue] = useState('');
  const [locked, setLocked] = useState(false);
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const { known, custom } = keyChoices(names);
  const replacing = existing.some((view) => view.key === keyValue);

  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    if (!keyValue) {
      setErrors({ key: 'Choose a name.' });
      return;
    }
    if (!value) {
      setErrors({ value: 'Enter a value.' });
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      const body = tier.tier === 'global' ? { value, locked } : { value };
      const saved = await tier.set(keyValue, body);
      setValue('');
      setLocked(false);
      onSaved(saved);
    } catch (error) {
      setErrors(toErrors(error, keyValue));
    } finally {
      setBusy(false);
    }
  };

  const keyId = `${id}-key`;
  const valueId = `${id}-value`;
  const lockedId = `${id}-locked`;
  return (
    <form className="form credential-form" onSubmit={(event) => void submit(event)} noValidate>
      <div className="credential-form-fields">
        <Field id={keyId} label="Name" error={errors.key} {...(keyValue === OAUTH_KEY || keyValue === 'ANTHROPIC_API_KEY' ? { hint: OAUTH_HINT } : {})}>
          <select
            id={keyId}
            value={keyValue}
            aria-invalid={errors.key ? true : undefined}
            aria-describedby={errors.key ? `${keyId}-error` : undefined}
            onChange={(event) => {
              onKeyChange(event.target.value);
              setErrors({});
            }}
          >
            <option value="">Choose a name…</option>
            {known.length > 0 && (
              <optgroup label="Known">
                {known.map((name) => (
                  <option key={name} value={name}>
                    {name}
                  </option>
                ))}
              </optgroup>
            )}
            {custom.length > 0 && (
              <optgroup label="Custom">
                {custom.map((name) => (
                  <option key={name} value={name}>
                    {name}
                  </option>
                ))}
              </optgroup>
            )}
          </select>
        </Field>
        <Field id={valueId} label={replacing ? 'New value' : 'Value'} error={errors.value}>
          <input
            id={valueId}
            ref={valueRef}
            type="password"
            autoComplete="off"
            spellCheck={false}
            value={value}
            aria-invalid={errors.value ? true : undefined}
            aria-describedby={errors.value ? `${valueId}-error` : undefined}
            onChange={(event) => {
              setValue(event.target.value);
            }}
          />
        </Field>
      </div>
      {tier.tier === 'global' && (
        <label className="credential-lock" htmlFor={lockedId}>
          <input
            id={lockedId}
            type="checkbox"
            checked={locked}
            onChange={(event) => {
              setLocked(event.target.checked);
            }}
          />{' '}
          Lock: no user or project can override it
        </label>
      )}
      {errors.form && (
        <p className="inline-error" role="alert">
          {errors.form}
        </p>
      )}
      <div className="form-row">
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? 'Saving…' : replacing ? 'Replace value' : 'Set value'}
        </button>
      </div>
    </form>
  );
}

function toErrors(error: unknown, key: string): Errors {
  if (error instanceof ApiError) {
    if (error.status === 422 && (error.field === 'key' || error.field === 'value')) {
      return { [error.field]: error.message };
    }
    if (error.status === 409) {
      return {
        form: `${key} is locked globally: an admin set it for everyone, so it cannot be overridden here. (${error.message})`,
      };
    }
    if (error.status === 403) return { form: `You may not change this tier. (${error.message})` };
  }
  return { form: describeError(error) };
}
