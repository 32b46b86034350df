import { describe, expect, it } from 'vitest';
import { entry } from '../test/fixtures.ts';
import {
  formatCost,
  formatDuration,
  initFacts,
  isLong,
  isNested,
  resultFacts,
  resultText,
  toolCall,
  toolResult,
} from './format.ts';

describe('log entry formatting', () => {
  it("reads a tool call's name, summary and input", () => {
    const call = toolCall(
      entry(1, { kind: 'tool_use', text: 'Bash', data: { name: 'Bash', input: { command: 'ls -la\necho more' } } }),
    );
    expect(call.name).toBe('Bash');
    expect(call.summary).toBe('ls -la');
    expect(call.input).toBe('{\n  "command": "ls -la\\necho more"\n}');
  });

  it('prefers a summary the adapter gave, and falls back to the text', () => {
    expect(toolCall(entry(1, { kind: 'tool_use', text: 'Read src/a.ts', data: { tool: 'Read', summary: 'src/a.ts' } }))).toEqual({
      name: 'Read',
      summary: 'src/a.ts',
      input: undefined,
    });
    expect(toolCall(entry(1, { kind: 'tool_use', text: 'Edit: main.rs' })).name).toBe('Edit');
  });

  it("reads a tool result's content blocks and error flag", () => {
    const result = toolResult(
      entry(1, { kind: 'tool_result', text: '', data: { content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }], is_error: true } }),
    );
    expect(result).toEqual({ text: 'a\nb', isError: true, tool: undefined, cut: false });
    expect(toolResult(entry(1, { kind: 'tool_result', text: 'plain' }))).toEqual({
      text: 'plain',
      isError: false,
      tool: undefined,
      cut: false,
    });
  });

  it('makes a cost and usage line of a result', () => {
    const facts = resultFacts(
      entry(1, {
        kind: 'result',
        data: {
          subtype: 'success',
          duration_ms: 12_345,
          num_turns: 3,
          total_cost_usd: 0.0123,
          usage: { input_tokens: 1234, output_tokens: 567, cache_read_input_tokens: 1000 },
        },
      }),
    );
    expect(facts).toEqual(['success', '12.3 s', '3 turns', '$0.01', '1,234 in · 567 out tokens', '1,000 cached']);
    expect(resultFacts(entry(1, { kind: 'result' }))).toEqual([]);
    const failed = entry(1, { kind: 'result', data: { subtype: 'success', is_error: true, duration_ms: 110 } });
    expect(resultFacts(failed)).toEqual(['error', '110 ms']);
  });

  it('describes a session start', () => {
    expect(initFacts(entry(1, { kind: 'init', data: { model: 'claude-x', tools: ['a', 'b'], session_id: '0123456789' } }))).toEqual([
      'claude-x',
      '2 tools',
      'session 01234567',
    ]);
  });

  describe("the Claude Code adapter's entries", () => {
    it('drops the tool name its summaries start with', () => {
      const call = toolCall(
        entry(1, {
          kind: 'tool_use',
          text: 'Bash: cargo test…',
          data: { event: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'cargo test\n  --all' } },
        }),
      );
      expect(call.name).toBe('Bash');
      expect(call.summary).toBe('cargo test…');
      expect(toolCall(entry(1, { kind: 'tool_use', text: 'Write src/main.rs', data: { name: 'Write', input: {} } })).summary).toBe(
        'src/main.rs',
      );
    });

    it('shows the whole kept output of a result, not its folded preview', () => {
      const result = toolResult(
        entry(1, {
          kind: 'tool_result',
          text: 'line 1\n… 40 more lines',
          data: { event: 'tool_result', tool_name: 'Bash', is_error: false, content: 'line 1\nline 2', content_truncated: true },
        }),
      );
      expect(result).toEqual({ text: 'line 1\nline 2', isError: false, tool: 'Bash', cut: true });
    });

    it('reads the final answer and the session facts', () => {
      const result = entry(1, { kind: 'result', text: 'done in 2 turns · 3.0 s · $0.0100', data: { result: 'All done.', num_turns: 2 } });
      expect(resultText(result)).toBe('All done.');
      expect(resultText(entry(1, { kind: 'result', data: { result: '' } }))).toBeUndefined();
      expect(
        initFacts(entry(1, { kind: 'init', data: { version: '2.1.0', model: 'm', tools: [], permission_mode: 'default', session_id: 's' } })),
      ).toEqual(['v2.1.0', 'm', '0 tools', 'default', 'session s']);
    });

    it("knows a sub-agent's entries", () => {
      expect(isNested(entry(1, { kind: 'assistant', data: { parent_tool_use_id: 'toolu_9' } }))).toBe(true);
      expect(isNested(entry(1, { kind: 'assistant', data: { event: 'text' } }))).toBe(false);
    });
  });

  it('folds long texts', () => {
    expect(isLong('short')).toBe(false);
    expect(isLong('x\n'.repeat(20))).toBe(true);
    expect(isLong('x'.repeat(5000))).toBe(true);
  });

  it('formats durations and costs', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(125_000)).toBe('2 min 5 s');
    expect(formatCost(0.004)).toBe('$0.0040');
    expect(formatCost(1.5)).toBe('$1.50');
  });
});
