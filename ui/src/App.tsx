/**
 * The application shell: header (product name, theme toggle), the page the address names
 * (projects, a board, a task) as the main landmark, and a footer with the connection status.
 * The board socket and the notices live here, shared by every page.
 */
import type { EventHub } from './api/events.ts';
import { EventsProvider } from './api/EventsProvider.tsx';
import { BoardPage } from './board/BoardPage.tsx';
import { ProjectsPage } from './projects/ProjectsPage.tsx';
import { href, useRoute, type Route } from './router.ts';
import { StatusLine } from './StatusLine.tsx';
import { TaskPage } from './task/TaskPage.tsx';
import { useTheme } from './theme.ts';
import { ThemeToggle } from './ThemeToggle.tsx';
import { NoticeProvider } from './widgets/NoticeProvider.tsx';

const LANDMARK: Record<Route['name'], string> = {
  projects: 'Projects',
  board: 'Board',
  task: 'Task',
  not_found: 'Not found',
};

export function App({ hub }: { hub?: EventHub }) {
  const { theme, toggle } = useTheme();
  const route = useRoute();
  return (
    <EventsProvider {...(hub ? { hub } : {})}>
      <NoticeProvider>
        <div className="app">
          <header className="app-header">
            <h1 className="app-title">
              <a href={href({ name: 'projects' })}>Taskyard</a>
            </h1>
            <ThemeToggle theme={theme} onToggle={toggle} />
          </header>
          <main className="app-main" aria-label={LANDMARK[route.name]}>
            <Page route={route} />
          </main>
          <footer className="app-footer">
            <StatusLine />
          </footer>
        </div>
      </NoticeProvider>
    </EventsProvider>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.name) {
    case 'projects':
      return <ProjectsPage />;
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
