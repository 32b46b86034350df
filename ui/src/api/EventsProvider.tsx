/**
 * Opens the board socket for the page (see events.ts), or uses the hub it is given (tests).
 */
import { useEffect, useState, type ReactNode } from 'react';
import { EventHub, HubContext } from './events.ts';

export function EventsProvider({ hub, children }: { hub?: EventHub; children: ReactNode }) {
  const [own] = useState(() => hub ?? new EventHub());
  useEffect(() => {
    if (hub) return;
    own.start();
    return () => {
      own.stop();
    };
  }, [hub, own]);
  return <HubContext value={own}>{children}</HubContext>;
}
