/**
 * Settings (local mode's owner; team mode's admins reach the same through the admin console's
 * Settings tab): the agents, the run queue, and the way to the credentials. In the desktop
 * app the agents' programs can be chosen here.
 */
import { useState } from 'react';
import { AgentsSection } from '../agents/AgentsSection.tsx';
import { desktopPrograms } from '../desktop/programs.ts';
import { href } from '../router.ts';
import { QueueSection } from './QueueSection.tsx';

export function SettingsPage() {
  const [programs] = useState(() => desktopPrograms());
  return (
    <div className="settings-page">
      <nav className="breadcrumbs" aria-label="Breadcrumbs">
        <a href={href({ name: 'projects' })}>Projects</a> <span aria-hidden="true">/</span> Settings
      </nav>
      <h2 className="page-title">Settings</h2>
      <p className="muted">
        Credentials for the agents (global and per project) are on the <a href={href({ name: 'credentials' })}>credentials page</a>.
      </p>
      <section className="panel">
        <AgentsSection programs={programs} />
      </section>
      <section className="panel">
        <QueueSection />
      </section>
    </div>
  );
}
