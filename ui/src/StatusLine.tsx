import { useConnection, type Connection } from './api/health.ts';
import { useEventsState } from './api/events.ts';

const TEXT: Record<Connection, string> = {
  checking: 'connecting…',
  connected: 'connected',
  unreachable: 'server unreachable',
};

/** The server's reachability and whether live updates flow, announced politely. */
export function StatusLine() {
  const connection = useConnection();
  const events = useEventsState();
  const live = events === 'open' ? 'live updates on' : events === 'stopped' ? '' : 'live updates reconnecting…';
  return (
    <p className="status-line" role="status" data-connection={connection}>
      <span className="status-dot" aria-hidden="true" />
      {TEXT[connection]}
      {connection === 'connected' && live && <span className="status-live"> · {live}</span>}
    </p>
  );
}
