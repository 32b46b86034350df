/**
 * One log entry, drawn by kind: plain output as monospaced lines, agent text as prose, tool
 * calls with their input folded, long results folded, a cost/usage line for `result`.
 */
import { memo } from 'react';
import type { LogEntry } from '../api/types.ts';
import { initFacts, isErrorResult, isLong, isNested, preview, resultFacts, resultText, toolCall, toolResult } from './format.ts';

export const LogRow = memo(function LogRow({ entry }: { entry: LogEntry }) {
  return (
    <li
      className={`log-row log-kind-${entry.kind}${isNested(entry) ? ' log-nested' : ''}`}
      data-seq={entry.seq}
      title={`#${entry.seq} · ${entry.ts}`}
    >
      <Body entry={entry} />
    </li>
  );
});

function Body({ entry }: { entry: LogEntry }) {
  switch (entry.kind) {
    case 'stdout':
    case 'stderr':
    case 'raw':
      return <pre className="log-line">{entry.text}</pre>;
    case 'system':
      return <p className="log-note">{entry.text}</p>;
    case 'init': {
      const facts = initFacts(entry);
      return <p className="log-note">{facts.length ? `Session started · ${facts.join(' · ')}` : entry.text}</p>;
    }
    case 'assistant':
      return (
        <div className="log-message">
          <span className="log-label">Agent</span>
          <Foldable text={entry.text} className="log-prose" />
        </div>
      );
    case 'thinking':
      return (
        <details className="log-fold log-thinking-body">
          <summary>Thinking…</summary>
          <p className="log-prose">{entry.text}</p>
        </details>
      );
    case 'tool_use':
      return <ToolUse entry={entry} />;
    case 'tool_result': {
      const result = toolResult(entry);
      const label = `${result.tool ? `${result.tool} ` : ''}${result.isError ? 'error' : 'output'}`;
      return (
        <div className={result.isError ? 'log-result log-result-error' : 'log-result'}>
          <Foldable text={result.text} className="log-output" label={label} />
          {result.cut && <p className="log-note">The output was cut short here.</p>}
        </div>
      );
    }
    case 'result': {
      const facts = resultFacts(entry);
      const failed = isErrorResult(entry);
      const answer = resultText(entry);
      return (
        <div className="log-summary">
          <p className={failed ? 'log-cost log-cost-error' : 'log-cost'}>
            <span aria-hidden="true">{failed ? '✗' : '✓'}</span> {facts.length ? facts.join(' · ') : entry.text || 'Finished'}
          </p>
          {failed && facts.length > 0 && entry.text && <p className="log-error-text">{entry.text}</p>}
          {answer && (
            <details className="log-fold">
              <summary>
                <span className="log-fold-hint">Final answer</span>
              </summary>
              <p className="log-prose">{answer}</p>
            </details>
          )}
        </div>
      );
    }
    case 'error':
      return (
        <p className="log-error-text" role="note">
          {entry.text}
        </p>
      );
  }
}

function ToolUse({ entry }: { entry: LogEntry }) {
  const call = toolCall(entry);
  const head = (
    <>
      <span className="log-tool-name">{call.name}</span>
      {call.summary && <code className="log-tool-summary">{call.summary}</code>}
    </>
  );
  if (call.input === undefined) return <p className="log-tool">{head}</p>;
  return (
    <details className="log-fold log-tool">
      <summary>{head}</summary>
      <pre className="log-output">{call.input}</pre>
    </details>
  );
}

/** Long text folds behind its first lines; short text shows as it is. */
function Foldable({ text, className, label }: { text: string; className: string; label?: string }) {
  if (!isLong(text)) {
    return (
      <>
        {label && <span className="log-label">{label}</span>}
        <pre className={className}>{text}</pre>
      </>
    );
  }
  const lines = text.replace(/\n$/, '').split('\n').length;
  return (
    <details className="log-fold">
      <summary>
        {label && <span className="log-label">{label}</span>}
        <span className="log-fold-count">
          {lines} lines, {text.length.toLocaleString('en-US')} characters ·{' '}
          <span className="log-fold-hint">show all</span>
        </span>
        <pre className={`${className} log-preview`}>{preview(text)}</pre>
      </summary>
      <pre className={className}>{text}</pre>
    </details>
  );
}
