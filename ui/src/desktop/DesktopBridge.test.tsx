import { render, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { EventHub } from '../api/events.ts';
import { EventsProvider } from '../api/EventsProvider.tsx';
import { fakeServer } from '../test/fakes.ts';
import { PROJECT_ID, project, run, task } from '../test/fixtures.ts';
import { DesktopBridge } from './DesktopBridge.tsx';

function renderBridge(hub: EventHub) {
  return render(
    <EventsProvider hub={hub}>
      <DesktopBridge />
    </EventsProvider>,
  );
}

describe('DesktopBridge', () => {
  it('does nothing in a browser', () => {
    const server = fakeServer().on('GET /api/projects', [project()]);
    const hub = new EventHub();
    const subscribe = vi.spyOn(hub, 'subscribe');
    const { unmount } = renderBridge(hub);
    hub.emit({ type: 'run_updated', project_id: PROJECT_ID, run: run('r1', 't1', { status: 'succeeded' }) });
    unmount();
    expect(subscribe).not.toHaveBeenCalled();
    expect(server.requests).toEqual([]);
  });

  it('reports to the desktop app through its IPC', async () => {
    fakeServer()
      .on('GET /api/projects', [project()])
      .on(`GET /api/projects/${PROJECT_ID}/tasks`, (_: Request, url: URL) =>
        url.searchParams.get('status') === 'in_progress' ? [task('t1', { status: 'in_progress', title: 'Ship it' })] : [],
      )
      .on('GET /api/tasks/t1/runs', [run('r1', 't1', { status: 'running' })]);
    const invoke = vi.fn(() => Promise.resolve());
    vi.stubGlobal('__TAURI_INTERNALS__', { invoke });
    const hub = new EventHub();
    const { unmount } = renderBridge(hub);
    await waitFor(() => {
      expect(invoke).toHaveBeenCalledWith('report', { running: 1, notices: [] });
    });
    hub.emit({ type: 'run_updated', project_id: PROJECT_ID, run: run('r1', 't1', { status: 'succeeded' }) });
    await waitFor(
      () => {
        expect(invoke).toHaveBeenCalledWith('report', { running: 0, notices: [{ title: 'Run finished', body: 'Ship it — demo' }] });
      },
      // The second report waits for the interval after the first.
      { timeout: 3000 },
    );
    unmount();
    expect(invoke).toHaveBeenCalledTimes(2);
  });
});
