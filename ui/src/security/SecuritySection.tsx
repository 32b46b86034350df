/**
 * The team server's security setting (admins): which hosts and networks clones, pulls and
 * pushes may reach beyond public addresses, the folder members may add repositories from, the
 * agents members may use, and the limits and timeouts of git operations. The server checks
 * every value; its refusal (422, naming the field) is shown as it says it.
 */
import { useEffect, useId, useState, type SyntheticEvent } from 'react';
import { describeError } from '../api/client.ts';
import { api } from '../api/endpoints.ts';
import type { SecuritySettings } from '../api/types.ts';
import { Field } from '../widgets/Field.tsx';
import { useNotify } from '../widgets/notices.ts';

/** The agents a member may be allowed, in the order the status page lists them. */
const AGENTS = ['claude', 'codex', 'gemini', 'custom'] as const;

type NumberField =
  | 'max_git_operations'
  | 'max_git_operations_per_user'
  | 'connect_timeout_seconds'
  | 'stall_seconds'
  | 'deadline_seconds';

const NUMBERS: { field: NumberField; label: string; hint: string }[] = [
  { field: 'max_git_operations', label: 'Clones, pulls and pushes at once', hint: 'On this server, in all.' },
  { field: 'max_git_operations_per_user', label: '…of which one user may run', hint: 'Beyond these, requests answer 429.' },
  { field: 'connect_timeout_seconds', label: 'Connect timeout (seconds)', hint: 'How long reaching a git host may take.' },
  { field: 'stall_seconds', label: 'End a stalled transfer after (seconds)', hint: 'Below 1 KB/s for this long.' },
  { field: 'deadline_seconds', label: 'Longest git operation (seconds)', hint: 'Then it is ended, whatever it does.' },
];

/** One entry a line, blank lines dropped. */
function lines(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

export function SecuritySection() {
  const notify = useNotify();
  const id = useId();
  const [settings, setSettings] = useState<SecuritySettings | null>(null);
  const [hosts, setHosts] = useState('');
  const [cidrs, setCidrs] = useState('');
  const [loadError, setLoadError] = useState<string | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  const show = (next: SecuritySettings) => {
    setSettings(next);
    setHosts(next.allowed_hosts.join('\n'));
    setCidrs(next.allowed_cidrs.join('\n'));
  };

  useEffect(() => {
    api.securitySettings().then(show, (failure: unknown) => {
      setLoadError(describeError(failure));
    });
  }, []);

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    if (!settings) return;
    setFormError(null);
    setSaving(true);
    try {
      const saved = await api.setSecuritySettings({ ...settings, allowed_hosts: lines(hosts), allowed_cidrs: lines(cidrs) });
      show(saved);
      notify('success', 'Security settings saved.');
    } catch (failure) {
      setFormError(`Not saved: ${describeError(failure)}`);
    } finally {
      setSaving(false);
    }
  };

  const toggleAgent = (agent: string, on: boolean) => {
    setSettings((current) =>
      current
        ? {
            ...current,
            member_agents: on ? [...current.member_agents, agent] : current.member_agents.filter((a) => a !== agent),
          }
        : current,
    );
  };

  return (
    <section className="queue-section" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`} className="panel-title">
        Security
      </h3>
      <p className="muted">
        Clones, pulls and pushes reach only public addresses unless a host or network is allowed here. Members add repositories
        from the server&apos;s disk only under the project folder, and use only the agents ticked below; admins may do everything.
      </p>
      {loadError && (
        <p className="inline-error" role="alert">
          {loadError}
        </p>
      )}
      {settings && (
        <form className="form queue-form" noValidate onSubmit={(event) => void submit(event)}>
          <fieldset className="queue-fieldset">
            <legend>Outbound</legend>
            <Field id={`${id}-hosts`} label="Allowed hosts" hint="One a line, as in URLs: git.corp.example, 10.1.2.3, [fd00::1].">
              <textarea
                id={`${id}-hosts`}
                rows={3}
                value={hosts}
                onChange={(event) => {
                  setHosts(event.target.value);
                }}
              />
            </Field>
            <Field id={`${id}-cidrs`} label="Allowed networks" hint="One a line: 10.20.0.0/16, fd00::/8.">
              <textarea
                id={`${id}-cidrs`}
                rows={2}
                value={cidrs}
                onChange={(event) => {
                  setCidrs(event.target.value);
                }}
              />
            </Field>
            {NUMBERS.map(({ field, label, hint }) => (
              <Field key={field} id={`${id}-${field}`} label={label} hint={hint}>
                <input
                  id={`${id}-${field}`}
                  type="number"
                  min="1"
                  step="1"
                  value={settings[field]}
                  onChange={(event) => {
                    setSettings({ ...settings, [field]: Number(event.target.value) });
                  }}
                />
              </Field>
            ))}
          </fieldset>
          <fieldset className="queue-fieldset">
            <legend>Members</legend>
            <Field
              id={`${id}-root`}
              label="Project folder"
              hint="Members may add repositories under this folder of the server; empty: only admins add server folders."
            >
              <input
                id={`${id}-root`}
                type="text"
                value={settings.project_root ?? ''}
                onChange={(event) => {
                  setSettings({ ...settings, project_root: event.target.value.trim() === '' ? null : event.target.value });
                }}
              />
            </Field>
            {AGENTS.map((agent) => (
              <label key={agent} className="credential-lock">
                <input
                  type="checkbox"
                  checked={settings.member_agents.includes(agent)}
                  onChange={(event) => {
                    toggleAgent(agent, event.target.checked);
                  }}
                />{' '}
                Members may use {agent}
                {agent === 'custom' ? ' (any command on the server)' : ''}
              </label>
            ))}
          </fieldset>
          {formError && (
            <p className="inline-error" role="alert">
              {formError}
            </p>
          )}
          <div className="dialog-actions">
            <button type="submit" className="button button-primary" disabled={saving}>
              {saving ? 'Saving…' : 'Save security settings'}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
