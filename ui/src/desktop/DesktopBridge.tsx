/**
 * Starts the desktop bridge (bridge.ts) on the page's board socket while mounted, when the page
 * is shown in the desktop app; renders nothing.
 */
import { useEffect } from 'react';
import { useEventHub } from '../api/events.ts';
import { startBridge, tauriInvoke } from './bridge.ts';

export function DesktopBridge() {
  const hub = useEventHub();
  useEffect(() => {
    const invoke = tauriInvoke();
    if (!invoke) return;
    return startBridge({ hub, invoke });
  }, [hub]);
  return null;
}
