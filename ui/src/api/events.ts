/**
 * The board socket (`/api/events`), one per page, shared by every view: board events for
 * tasks, runs, projects and clones. After a reconnect, or when the server says the client fell
 * behind (`resync`), listeners get `{type: 'resync'}` and reload what they show, since events
 * may have been missed.
 */
import { createContext, use, useEffect, useRef, useSyncExternalStore } from 'react';
import { socketUrl } from './endpoints.ts';
import { ReconnectingSocket, type SocketFactory, type SocketState } from './socket.ts';
import type { BoardEvent, Control } from './types.ts';

export type EventMessage = BoardEvent | Control;
export type EventListener = (message: EventMessage) => void;

export class EventHub {
  private readonly listeners = new Set<EventListener>();
  private readonly stateListeners = new Set<(state: SocketState) => void>();
  private socket: ReconnectingSocket | null = null;
  state: SocketState = 'stopped';

  constructor(private readonly create?: SocketFactory) {}

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onState(listener: (state: SocketState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Delivers a message to every listener (the socket's messages, and tests). */
  emit(message: EventMessage): void {
    for (const listener of [...this.listeners]) listener(message);
  }

  start(): void {
    if (this.socket) return;
    this.socket = new ReconnectingSocket({
      url: () => socketUrl('/api/events'),
      onMessage: (data) => {
        if (isEventMessage(data)) this.emit(data);
      },
      onOpen: (reconnected) => {
        if (reconnected) this.emit({ type: 'resync' });
      },
      onState: (state) => {
        this.state = state;
        for (const listener of [...this.stateListeners]) listener(state);
      },
      ...(this.create ? { create: this.create } : {}),
    });
    this.socket.start();
  }

  stop(): void {
    this.socket?.stop();
    this.socket = null;
  }
}

function isEventMessage(data: unknown): data is EventMessage {
  return typeof data === 'object' && data !== null && typeof (data as { type?: unknown }).type === 'string';
}

export const HubContext = createContext<EventHub | null>(null);

export function useEventHub(): EventHub {
  const hub = use(HubContext);
  if (!hub) throw new Error('useEventHub needs an EventsProvider');
  return hub;
}

/** Calls `listener` for every board message while mounted; the latest listener is used. */
export function useBoardEvents(listener: EventListener): void {
  const hub = useEventHub();
  const latest = useRef(listener);
  useEffect(() => {
    latest.current = listener;
  });
  useEffect(
    () =>
      hub.subscribe((message) => {
        latest.current(message);
      }),
    [hub],
  );
}

/** The board socket's state, for the status line. */
export function useEventsState(): SocketState {
  const hub = useEventHub();
  return useSyncExternalStore(
    (onChange) => hub.onState(onChange),
    () => hub.state,
  );
}
