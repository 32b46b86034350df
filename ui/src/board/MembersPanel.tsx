/**
 * A project's members (team mode): everyone sees the list; owners and admins add people by
 * e-mail and remove them.
 */
import { useCallback, useEffect, useId, useState, type SyntheticEvent } from 'react';
import { describeError } from '../api/client.ts';
import { api } from '../api/endpoints.ts';
import type { Member, ProjectRole } from '../api/types.ts';
import { useCurrentUser } from '../auth/context.ts';
import { Field } from '../widgets/Field.tsx';

export function MembersPanel({ projectId }: { projectId: string }) {
  const me = useCurrentUser();
  const id = useId();
  const [members, setMembers] = useState<Member[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<ProjectRole>('member');
  const [formError, setFormError] = useState<string | null>(null);

  const reload = useCallback(() => {
    api.members(projectId).then(
      (list) => {
        setMembers(list);
        setError(null);
      },
      (failure: unknown) => {
        setError(describeError(failure));
      },
    );
  }, [projectId]);
  useEffect(reload, [reload]);

  const mine = members?.find((member) => member.user_id === me?.id);
  const canManage = me?.role === 'admin' || mine?.role === 'owner';

  const add = async (event: SyntheticEvent) => {
    event.preventDefault();
    setFormError(null);
    try {
      await api.addMember(projectId, { email: email.trim(), role });
      setEmail('');
      reload();
    } catch (failure) {
      setFormError(describeError(failure));
    }
  };

  const remove = (member: Member) => {
    api.removeMember(projectId, member.user_id).then(reload, (failure: unknown) => {
      setError(describeError(failure));
    });
  };

  return (
    <section className="members-panel" aria-label="Members">
      {error && <p className="inline-error" role="alert">{error}</p>}
      {members && (
        <ul className="members-list">
          {members.length === 0 && <li className="muted">No members.</li>}
          {members.map((member) => (
            <li key={member.user_id} className="member-row">
              <span>
                <strong>{member.name}</strong> <span className="muted mono">{member.email}</span>
              </span>
              <span className="chip">{member.role}</span>
              {canManage && member.user_id !== me?.id && (
                <button
                  type="button"
                  className="button button-small button-danger-quiet"
                  aria-label={`Remove ${member.email}`}
                  onClick={() => {
                    remove(member);
                  }}
                >
                  Remove
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {canManage && (
        <form className="form form-inline" onSubmit={(event) => void add(event)} aria-label="Add member">
          <Field id={`${id}-email`} label="E-mail" error={formError ?? undefined}>
            <input id={`${id}-email`} type="email" required value={email} onChange={(e) => { setEmail(e.target.value); }} />
          </Field>
          <Field id={`${id}-role`} label="Role">
            <select id={`${id}-role`} value={role} onChange={(e) => { setRole(e.target.value as ProjectRole); }}>
              <option value="member">member</option>
              <option value="owner">owner</option>
            </select>
          </Field>
          <button type="submit" className="button button-primary">Add member</button>
        </form>
      )}
    </section>
  );
}
