/**
 * Hash routing: `#/` projects, `#/projects/<id>` a board, `#/projects/<id>/tasks/<id>` a task.
 * The hash keeps every view addressable (reload, back, new tab) with no server routes; the
 * server serves index.html for other paths anyway.
 */
import { useEffect, useState } from 'react';

export type Route =
  | { name: 'projects' }
  | { name: 'board'; projectId: string }
  | { name: 'task'; projectId: string; taskId: string }
  | { name: 'not_found'; path: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '').replace(/\/+$/, '') || '/';
  if (path === '/' || path === '/projects') return { name: 'projects' };
  const parts = path.split('/').slice(1).map(decodeURIComponent);
  if (parts[0] === 'projects' && parts[1]) {
    if (parts.length === 2) return { name: 'board', projectId: parts[1] };
    if (parts[2] === 'tasks' && parts[3] && parts.length === 4) {
      return { name: 'task', projectId: parts[1], taskId: parts[3] };
    }
  }
  return { name: 'not_found', path };
}

export function href(route: Route): string {
  switch (route.name) {
    case 'projects':
      return '#/';
    case 'board':
      return `#/projects/${encodeURIComponent(route.projectId)}`;
    case 'task':
      return `#/projects/${encodeURIComponent(route.projectId)}/tasks/${encodeURIComponent(route.taskId)}`;
    case 'not_found':
      return `#${route.path}`;
  }
}

export function navigate(route: Route): void {
  window.location.hash = href(route);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = () => {
      setRoute(parseRoute(window.location.hash));
    };
    window.addEventListener('hashchange', onChange);
    return () => {
      window.removeEventListener('hashchange', onChange);
    };
  }, []);
  return route;
}
