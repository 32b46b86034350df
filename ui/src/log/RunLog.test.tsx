import { act, fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { entry } from '../test/fixtures.ts';
import { socketFactory } from '../test/fakes.ts';
import { RunLog } from './RunLog.tsx';

function setup() {
  const factory = socketFactory();
  const options = { create: factory.create };
  render(<RunLog runId="r1" options={options} />);
  const socket = factory.last();
  act(() => {
    socket.open();
  });
  const send = (data: unknown) => {
    act(() => {
      socket.send(data);
    });
  };
  return { socket, send };
}

/** jsdom does no layout: give the scroller the geometry of a scrolled view. */
function scrollTo(element: HTMLElement, scrollTop: number, scrollHeight = 2000, clientHeight = 400) {
  Object.defineProperty(element, 'scrollHeight', { configurable: true, value: scrollHeight });
  Object.defineProperty(element, 'clientHeight', { configurable: true, value: clientHeight });
  element.scrollTop = scrollTop;
  fireEvent.scroll(element);
}

describe('RunLog', () => {
  it('renders entries by kind', () => {
    const { send } = setup();
    send({
      type: 'entries',
      entries: [
        entry(1, { kind: 'system', text: 'starting `sh -c …`' }),
        entry(2, { kind: 'stdout', text: 'line 1' }),
        entry(3, { kind: 'stderr', text: 'warning: careful' }),
        entry(4, { kind: 'assistant', text: 'I will add the file.' }),
        entry(5, { kind: 'tool_use', text: 'Bash', data: { name: 'Bash', input: { command: 'touch out.txt' } } }),
        entry(6, { kind: 'tool_result', text: 'x\n'.repeat(40) }),
        entry(7, { kind: 'result', text: 'done in 2 turns', data: { total_cost_usd: 0.25, num_turns: 2, result: 'Done.' } }),
        entry(8, { kind: 'error', text: 'rate limited' }),
      ],
    });
    expect(screen.getByText('line 1')).toBeInTheDocument();
    expect(screen.getByText('warning: careful').closest('li')).toHaveClass('log-kind-stderr');
    expect(screen.getByText('I will add the file.')).toBeInTheDocument();
    // The tool's input is folded behind its summary.
    const tool = screen.getByText('Bash').closest('details');
    expect(tool).not.toHaveAttribute('open');
    expect(screen.getAllByText('touch out.txt')[0]).toBeInTheDocument();
    expect(screen.getByText(/40 lines/)).toBeInTheDocument();
    expect(screen.getByText(/2 turns · \$0.25/)).toBeInTheDocument();
    expect(screen.getByText('rate limited')).toHaveClass('log-error-text');
    expect(screen.getByText('8 lines')).toBeInTheDocument();
  });

  it('pauses when scrolled up and jumps back to the latest', () => {
    const { send } = setup();
    send({ type: 'entries', entries: [entry(1), entry(2)] });
    const log = screen.getByRole('log');
    scrollTo(log, 100);
    send({ type: 'entries', entries: [entry(3), entry(4), entry(5)] });
    const jump = screen.getByRole('button', { name: 'Jump to latest (3 new)' });
    // The reader's place is kept while paused.
    expect(log.scrollTop).toBe(100);
    fireEvent.click(jump);
    expect(screen.queryByRole('button', { name: /Jump to latest/ })).not.toBeInTheDocument();
    expect(log.scrollTop).toBe(2000);
  });

  it('says when the run ended without output', () => {
    const { send } = setup();
    send({ type: 'end', run: { id: 'r1', task_id: 't', attempt: 1, kind: 'start', status: 'succeeded', agent: 'command', prompt: '', created_at: '' } });
    expect(screen.getByText('This run printed nothing.')).toBeInTheDocument();
    expect(screen.getByText('finished')).toBeInTheDocument();
  });
});
