// Renders a page inside the providers the app gives it, with a board socket the test drives.
import { render } from '@testing-library/react';
import type { ReactElement } from 'react';
import { EventHub } from '../api/events.ts';
import { EventsProvider } from '../api/EventsProvider.tsx';
import { NoticeProvider } from '../widgets/NoticeProvider.tsx';

export function renderPage(ui: ReactElement) {
  const hub = new EventHub();
  const result = render(
    <EventsProvider hub={hub}>
      <NoticeProvider>{ui}</NoticeProvider>
    </EventsProvider>,
  );
  return { ...result, hub };
}
