import { useConnection, type Connection } from './api/health.ts';

const TEXT: Record<Connection, string> = {
  checking: 'connecting…',
  connected: 'connected',
  unreachable: 'server unreachable',
};

/** The server's reachability, announced politely to screen readers. */
export function StatusLine() {
  const connection = useConnection();
  return (
    <p className="status-line" role="status" data-connection={connection}>
      <span className="status-dot" aria-hidden="true" />
      {TEXT[connection]}
    </p>
  );
}
