/**
 * Settings → Credentials: the global tier (admins; local mode's user), the caller's own tier
 * (team mode) and the allowed custom names (admins). Values are write-only; only masked forms
 * come back from the server.
 */
import { useCallback, useEffect, useState } from 'react';
import { describeError } from '../api/client.ts';
import { href } from '../router.ts';
import { AllowedNames } from './AllowedNames.tsx';
import { credentialsApi, globalTier, userTier, type CredentialNames } from './api.ts';
import { TierSection } from './TierSection.tsx';
import './credentials.css';

export function CredentialsPage() {
  const [mode, setMode] = useState<string | null>(null);
  const [names, setNames] = useState<CredentialNames | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [admin, setAdmin] = useState(true);

  useEffect(() => {
    let live = true;
    Promise.all([credentialsApi.authMode(), credentialsApi.names()])
      .then(([auth, loaded]) => {
        if (!live) return;
        setMode(auth.mode);
        setNames(loaded);
      })
      .catch((caught: unknown) => {
        if (live) setError(describeError(caught));
      });
    return () => {
      live = false;
    };
  }, []);

  const notAdmin = useCallback(() => {
    setAdmin(false);
  }, []);

  return (
    <div className="credentials-page">
      <nav className="breadcrumbs" aria-label="Breadcrumbs">
        <a href={href({ name: 'projects' })}>Projects</a> <span aria-hidden="true">/</span> Settings
      </nav>
      <h2 className="page-title">Credentials</h2>
      <p className="muted">
        Secrets agents get as environment variables. A project&apos;s value wins over yours, yours over the global one —
        unless the global one is locked. Values are never shown again once saved.
      </p>
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
      {!error && (mode === null || names === null) && (
        <p className="loading" role="status">
          Loading…
        </p>
      )}
      {mode !== null && names !== null && (
        <div className="credential-tiers">
          {mode === 'team' && (
            <TierSection
              title="Your credentials"
              description="Used by runs you start, in every project, unless the project sets its own or the global value is locked."
              tier={userTier}
              names={names}
            />
          )}
          {admin ? (
            <TierSection
              title="Global credentials"
              description={
                mode === 'team'
                  ? 'For every run on this server. Lock one so no user or project can override it.'
                  : 'For every run. Lock one so no project can override it.'
              }
              tier={globalTier}
              names={names}
              onForbidden={notAdmin}
            />
          ) : null}
          {admin && <AllowedNames names={names} onSaved={setNames} />}
        </div>
      )}
    </div>
  );
}
