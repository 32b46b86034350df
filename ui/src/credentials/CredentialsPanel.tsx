/**
 * The project page's credentials: the project tier (owners set and delete; members see masked
 * values) and the effective set — what a run the caller starts would get, and where each
 * value comes from.
 */
import { useCallback, useEffect, useMemo, useState } from 'react';
import { describeError } from '../api/client.ts';
import { href } from '../router.ts';
import { credentialsApi, projectTier, type CredentialNames, type Effective } from './api.ts';
import { LockedBadge, MaskedValue } from './CredentialTable.tsx';
import { TierSection } from './TierSection.tsx';
import './credentials.css';

type Load = { status: 'loading' } | { status: 'ready'; rows: Effective[] } | { status: 'error'; message: string };

async function fetchEffective(projectId: string): Promise<Load> {
  try {
    return { status: 'ready', rows: await credentialsApi.effective(projectId) };
  } catch (error) {
    return { status: 'error', message: describeError(error) };
  }
}

export function CredentialsPanel({ projectId }: { projectId: string }) {
  const tier = useMemo(() => projectTier(projectId), [projectId]);
  const [names, setNames] = useState<CredentialNames | null>(null);
  const [effective, setEffective] = useState<Load>({ status: 'loading' });

  const loadEffective = useCallback(async () => {
    setEffective(await fetchEffective(projectId));
  }, [projectId]);

  useEffect(() => {
    let live = true;
    void fetchEffective(projectId).then((loaded) => {
      if (live) setEffective(loaded);
    });
    credentialsApi.names().then(
      (loaded) => {
        if (live) setNames(loaded);
      },
      () => {
        if (live) setNames({ known: [], allowed: [] });
      },
    );
    return () => {
      live = false;
    };
  }, [projectId]);

  return (
    <div className="credentials-panel">
      <TierSection
        title="Project credentials"
        description="For every run of this project; they win over user and global values that are not locked. Owners may change them."
        tier={tier}
        names={names}
        onChanged={() => void loadEffective()}
      />
      <section className="panel credential-tier" aria-labelledby="credentials-effective">
        <h3 className="panel-title" id="credentials-effective">
          Effective for your runs
        </h3>
        <p className="muted credential-tier-description">
          What a run you start here gets, and where each value comes from. Global and personal values are set in{' '}
          <a href="#/settings/credentials">Settings → Credentials</a>.
        </p>
        {effective.status === 'loading' && (
          <p className="loading" role="status">
            Loading…
          </p>
        )}
        {effective.status === 'error' && (
          <p className="inline-error" role="alert">
            {effective.message}
          </p>
        )}
        {effective.status === 'ready' &&
          (effective.rows.length === 0 ? (
            <p className="empty-state credential-empty">
              Runs get no credentials from Taskyard yet. <a href={href({ name: 'projects' })}>Projects</a>
            </p>
          ) : (
            <table className="table credential-table" aria-label="Effective credentials">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Value</th>
                  <th scope="col">From</th>
                </tr>
              </thead>
              <tbody>
                {effective.rows.map((row) => (
                  <tr key={row.key} data-key={row.key}>
                    <th scope="row" className="mono">
                      {row.key} {row.locked && <LockedBadge />}
                    </th>
                    <td>
                      <MaskedValue masked={row.masked} />
                    </td>
                    <td>
                      <span className="chip credential-tier-chip" data-tier={row.tier}>
                        from {row.tier}
                      </span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ))}
      </section>
    </div>
  );
}
