/**
 * The application shell: header (product name, theme toggle), the page the address names
 * (projects, a board, a task) as the main landmark, and a footer with the connection status.
 * The board socket and the notices live here, shared by every page, and so does the desktop
 * bridge (in the desktop app: the tray's run count and desktop notifications).
 */
import { auth as defaultAuth, type Auth, type AuthState } from './api/auth.ts';
import type { EventHub } from './api/events.ts';
import { AdminPage } from './admin/AdminPage.tsx';
import { AuthContext, useAuthState } from './auth/context.ts';
import { LoginPage } from './auth/LoginPage.tsx';
import { RegisterPage } from './auth/RegisterPage.tsx';
import { UserMenu } from './auth/UserMenu.tsx';
import { EventsProvider } from './api/EventsProvider.tsx';
import { BoardPage } from './board/BoardPage.tsx';
import { CredentialsPage } from './credentials/CredentialsPage.tsx';
import { DesktopBridge } from './desktop/DesktopBridge.tsx';
import { ProjectsPage } from './projects/ProjectsPage.tsx';
import { SettingsPage } from './queue/SettingsPage.tsx';
import { href, useRoute, type Route } from './router.ts';
import { StatusLine } from './StatusLine.tsx';
import { TaskPage } from './task/TaskPage.tsx';
import { useEffect } from 'react';
import { useTheme } from './theme.ts';
import { ThemeToggle } from './ThemeToggle.tsx';
import { NoticeProvider } from './widgets/NoticeProvider.tsx';

const LANDMARK: Record<Route['name'], string> = {
  projects: 'Projects',
  board: 'Board',
  task: 'Task',
  login: 'Sign in',
  register: 'Create account',
  admin: 'Admin',
  credentials: 'Credentials',
  settings: 'Settings',
  not_found: 'Not found',
};

export function App({ hub, auth = defaultAuth }: { hub?: EventHub; auth?: Auth }) {
  useEffect(() => {
    void auth.start();
  }, [auth]);
  return (
    <AuthContext value={auth}>
      <NoticeProvider>
        <Shell {...(hub ? { hub } : {})} />
      </NoticeProvider>
    </AuthContext>
  );
}

function Shell({ hub }: { hub?: EventHub }) {
  const { theme, toggle } = useTheme();
  const route = useRoute();
  const state = useAuthState();
  const header = (
    <header className="app-header">
      <h1 className="app-title">
        <a href={href({ name: 'projects' })}>Taskyard</a>
      </h1>
      <div className="app-header-actions">
        {state.status === 'signed_in' && state.user.role === 'admin' && (
          <a className="button button-small" href={href({ name: 'admin' })}>
            Admin
          </a>
        )}
        {(state.status === 'signed_in' || state.status === 'local') && (
          <a className="button button-small" href={href({ name: 'credentials' })}>
            Credentials
          </a>
        )}
        {state.status === 'local' && (
          <a className="button button-small" href={href({ name: 'settings' })}>
            Settings
          </a>
        )}
        {state.status === 'signed_in' && <UserMenu user={state.user} />}
        <ThemeToggle theme={theme} onToggle={toggle} />
      </div>
    </header>
  );

  if (state.status === 'loading' || state.status === 'signed_out') {
    return (
      <div className="app">
        {header}
        <main className="app-main" aria-label={state.status === 'loading' ? 'Loading' : LANDMARK[route.name === 'register' ? 'register' : 'login']}>
          <SignedOut state={state} route={route} />
        </main>
      </div>
    );
  }

  // Signed in (or local mode): the board socket lives as long as this user's session.
  return (
    <EventsProvider key={state.status === 'signed_in' ? state.user.id : 'local'} {...(hub ? { hub } : {})}>
      <DesktopBridge />
      <div className="app">
        {header}
        <main className="app-main" aria-label={LANDMARK[route.name]}>
          <Page route={route} admin={state.status === 'signed_in' && state.user.role === 'admin'} />
        </main>
        <footer className="app-footer">
          <StatusLine />
        </footer>
      </div>
    </EventsProvider>
  );
}

function SignedOut({ state, route }: { state: AuthState; route: Route }) {
  if (state.status !== 'signed_out') {
    return (
      <p className="loading" role="status">
        Loading…
      </p>
    );
  }
  if (state.registration === 'first_admin') return <RegisterPage firstAdmin invite={null} />;
  if (route.name === 'register') return <RegisterPage firstAdmin={false} invite={route.invite} />;
  return <LoginPage expired={state.expired} />;
}

function Page({ route, admin }: { route: Route; admin: boolean }) {
  switch (route.name) {
    case 'login':
    case 'register':
      return <ProjectsPage />;
    case 'admin':
      return admin ? (
        <AdminPage />
      ) : (
        <div className="page-message">
          <h2>Only admins can see this.</h2>
          <p>
            <a href={href({ name: 'projects' })}>All projects</a>
          </p>
        </div>
      );
    case 'projects':
      return <ProjectsPage />;
    case 'credentials':
      return <CredentialsPage />;
    case 'settings':
      return <SettingsPage />;
    case 'board':
      return <BoardPage key={route.projectId} projectId={route.projectId} />;
    case 'task':
      return <TaskPage key={route.taskId} projectId={route.projectId} taskId={route.taskId} />;
    case 'not_found':
      return (
        <div className="page-message">
          <h2>Nothing here.</h2>
          <p>
            <a href={href({ name: 'projects' })}>All projects</a>
          </p>
        </div>
      );
  }
}
