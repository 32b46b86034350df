/**
 * Short messages about what just happened ("Merged into main", "Could not move the card: …"),
 * shown in a corner by `NoticeProvider`; components raise them with `useNotify`.
 */
import { createContext, use } from 'react';

export type NoticeKind = 'info' | 'success' | 'error';

export interface Notice {
  id: number;
  kind: NoticeKind;
  text: string;
}

export type Notify = (kind: NoticeKind, text: string) => void;

export const NoticeContext = createContext<Notify>(() => undefined);

export function useNotify(): Notify {
  return use(NoticeContext);
}
