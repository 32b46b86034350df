/**
 * The run queue: how many runs wait and run (across all servers), this server's share, and
 * the limits and retry policy admins change at run time (in local mode, the owner). Waits are
 * edited in minutes or hours and sent in seconds; the server's refusal (422) is shown as it
 * says it.
 */
import { useCallback, useEffect, useId, useState, type SyntheticEvent } from 'react';
import { describeError } from '../api/client.ts';
import { api } from '../api/endpoints.ts';
import type { QueueStatus } from '../api/types.ts';
import { Field } from '../widgets/Field.tsx';
import { useNotify } from '../widgets/notices.ts';
import { DEFAULT_SETTINGS, describeBytes, describeSeconds, explainRefusal, formFromSettings, settingsFromForm, type QueueField, type QueueForm, type QueueFormErrors } from './queueForm.ts';

/** How often the counts are read again while the section is open. */
export const QUEUE_REFRESH_MS = 10_000;

interface FieldSpec {
  field: QueueField;
  label: string;
  unit: string;
  step: string;
  hint: (status: QueueStatus) => string;
}

const LIMITS: FieldSpec[] = [
  {
    field: 'max_concurrent',
    label: 'Runs at once on each server',
    unit: 'runs',
    step: '1',
    hint: (s) => `0 = each server's own configuration (this server: ${s.max_concurrent_here}).`,
  },
  { field: 'max_per_user', label: 'Runs at once per user', unit: 'runs', step: '1', hint: () => 'Across all servers. 0 = no limit.' },
  { field: 'max_per_project', label: 'Runs at once per project', unit: 'runs', step: '1', hint: () => 'Across all servers. 0 = no limit.' },
];

const RETRIES: FieldSpec[] = [
  {
    field: 'max_attempts',
    label: 'Attempts per run',
    unit: 'attempts',
    step: '1',
    hint: () => 'How often a run is executed (first try and retries) before it fails instead of waiting again. At least 1.',
  },
  {
    field: 'auth_retry_minutes',
    label: 'Retry without credentials every',
    unit: 'minutes',
    step: 'any',
    hint: () => 'A run waiting for credentials is also retried at once when a credential changes.',
  },
  {
    field: 'quota_retry_minutes',
    label: 'First wait after a usage limit',
    unit: 'minutes',
    step: 'any',
    hint: () => 'When the agent did not say when its limit resets.',
  },
  {
    field: 'quota_backoff',
    label: 'Each further usage-limit wait is',
    unit: '× longer',
    step: 'any',
    hint: () => 'A factor between 1 (always the same wait) and 10.',
  },
  {
    field: 'quota_max_hours',
    label: 'Longest usage-limit wait',
    unit: 'hours',
    step: 'any',
    hint: () => 'Not shorter than the first wait.',
  },
  {
    field: 'worktree_idle_hours',
    label: 'Keep idle worktrees of finished tasks for',
    unit: 'hours',
    step: '1',
    hint: () => '0 = keep them until the task is deleted.',
  },
];

export function QueueSection() {
  const notify = useNotify();
  const id = useId();
  const [status, setStatus] = useState<QueueStatus | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [form, setForm] = useState<QueueForm | null>(null);
  const [errors, setErrors] = useState<QueueFormErrors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState(false);

  const refresh = useCallback(() => {
    api.queue().then(
      (next) => {
        setStatus(next);
        setLoadError(null);
        // The form keeps what the person typed; it starts from the settings in force.
        setForm((current) => current ?? formFromSettings(next.settings));
      },
      (failure: unknown) => {
        setLoadError(describeError(failure));
      },
    );
  }, []);

  useEffect(() => {
    refresh();
    const timer = setInterval(refresh, QUEUE_REFRESH_MS);
    return () => {
      clearInterval(timer);
    };
  }, [refresh]);

  const change = (field: QueueField, value: string) => {
    setForm((current) => (current ? { ...current, [field]: value } : current));
    setErrors((current) => ({ ...current, [field]: undefined }));
    setSaved(false);
  };

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    if (!form) return;
    setFormError(null);
    setSaved(false);
    const parsed = settingsFromForm(form);
    if ('errors' in parsed) {
      setErrors(parsed.errors);
      return;
    }
    setErrors({});
    setSaving(true);
    try {
      const settings = await api.setQueueSettings(parsed.settings);
      setForm(formFromSettings(settings));
      setStatus((current) => (current ? { ...current, settings } : current));
      setSaved(true);
      notify('success', 'Queue settings saved. Every server uses them within seconds.');
      refresh();
    } catch (failure) {
      setFormError(`Not saved: ${explainRefusal(describeError(failure))}`);
    } finally {
      setSaving(false);
    }
  };

  const fields = (specs: FieldSpec[], current: QueueForm, queue: QueueStatus) =>
    specs.map((spec) => {
      const inputId = `${id}-${spec.field}`;
      const error = errors[spec.field];
      return (
        <Field key={spec.field} id={inputId} label={spec.label} hint={spec.hint(queue)} error={error}>
          <span className="queue-input">
            <input
              id={inputId}
              type="number"
              inputMode="decimal"
              min="0"
              step={spec.step}
              value={current[spec.field]}
              aria-invalid={error ? true : undefined}
              aria-describedby={error ? `${inputId}-error` : undefined}
              onChange={(event) => {
                change(spec.field, event.target.value);
              }}
            />
            <span className="muted">{spec.unit}</span>
          </span>
        </Field>
      );
    });

  return (
    <section className="queue-section" aria-labelledby={`${id}-title`}>
      <div className="section-head">
        <h3 id={`${id}-title`} className="panel-title">
          Run queue
        </h3>
        <button type="button" className="button button-small" onClick={refresh}>
          Refresh
        </button>
      </div>
      <p className="muted">
        Started runs wait in one queue and run as the limits allow. A run that finds no valid credentials or hits a usage limit
        waits and is retried by the policy below.
      </p>
      {loadError && (
        <p className="inline-error" role="alert">
          {loadError}
        </p>
      )}
      {!status && !loadError && (
        <p className="loading" role="status">
          Reading the queue…
        </p>
      )}
      {status && (
        <dl className="queue-counts" aria-label="Queue counts">
          <Count label="Queued" value={status.counts.queued} />
          <Count label="Running" value={status.counts.running} />
          <Count label="Waiting for credentials" value={status.counts.waiting_auth} warn />
          <Count label="Waiting for usage limit" value={status.counts.waiting_quota} warn />
          <div className="queue-count">
            <dt>This server</dt>
            <dd>
              {status.active_here} <span className="muted">of {status.max_concurrent_here} at once</span>
            </dd>
          </div>
          <div className="queue-count">
            <dt>Worktrees here</dt>
            <dd>
              {status.worktrees.count} <span className="muted">· {describeBytes(status.worktrees.bytes)}</span>
            </dd>
          </div>
          <div className="queue-count" data-warn={status.sandbox.confined || status.sandbox.policy === 'off' ? undefined : 'true'}>
            <dt>Runs here</dt>
            <dd>{status.sandbox.confined ? 'confined (sandbox)' : 'not confined'}</dd>
          </div>
        </dl>
      )}
      {status?.sandbox.problem && (
        <p className={status.sandbox.policy === 'off' ? 'muted' : 'inline-error'} role="note">
          {status.sandbox.problem}
        </p>
      )}
      {status && form && (
        <form className="form queue-form" noValidate onSubmit={(event) => void submit(event)}>
          <fieldset className="queue-fieldset">
            <legend>Limits</legend>
            {fields(LIMITS, form, status)}
          </fieldset>
          <fieldset className="queue-fieldset">
            <legend>Retries and clean-up</legend>
            {fields(RETRIES, form, status)}
          </fieldset>
          <p className="muted queue-summary">
            In force: retry without credentials every {describeSeconds(status.settings.auth_retry_seconds)}; usage-limit
            waits from {describeSeconds(status.settings.quota_retry_seconds)} up to {describeSeconds(status.settings.quota_max_seconds)};{' '}
            {status.settings.max_attempts} attempts per run.
          </p>
          {formError && (
            <p className="inline-error" role="alert">
              {formError}
            </p>
          )}
          <div className="dialog-actions">
            {saved && (
              <span className="muted" role="status">
                Saved.
              </span>
            )}
            <button
              type="button"
              className="button"
              disabled={saving}
              onClick={() => {
                setForm(formFromSettings(DEFAULT_SETTINGS));
                setErrors({});
                setSaved(false);
              }}
            >
              Fill in defaults
            </button>
            <button type="submit" className="button button-primary" disabled={saving}>
              {saving ? 'Saving…' : 'Save queue settings'}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

function Count({ label, value, warn = false }: { label: string; value: number; warn?: boolean }) {
  return (
    <div className="queue-count" data-warn={warn && value > 0 ? 'true' : undefined}>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}
