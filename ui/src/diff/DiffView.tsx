/**
 * What a run changed: the files with their +/- counts, then each file's patch with line
 * numbers and syntax colours. Big patches start folded so a large diff opens quickly.
 */
import { memo, useMemo, type MouseEvent } from 'react';
import type { Diff, FileDiff, FileStatus } from '../api/types.ts';
import { highlight, languageOf } from './highlight.ts';
import { parsePatch, type DiffLine } from './parse.ts';

/** Files with more changed lines than this start folded. */
const FOLD_LINES = 400;

const STATUS_LETTER: Record<FileStatus, string> = {
  added: 'A',
  modified: 'M',
  deleted: 'D',
  renamed: 'R',
  copied: 'C',
  typechange: 'T',
};

export function DiffView({ diff }: { diff: Diff }) {
  if (diff.files.length === 0) {
    return <p className="empty-state">This run changed no files.</p>;
  }
  return (
    <div className="diff">
      <p className="diff-summary">
        {diff.files.length} {diff.files.length === 1 ? 'file' : 'files'} changed,{' '}
        <span className="diff-plus">+{diff.insertions}</span> <span className="diff-minus">−{diff.deletions}</span>
      </p>
      <ul className="diff-files" aria-label="Files changed">
        {diff.files.map((file, index) => (
          <li key={file.path}>
            <a href={`#diff-file-${index}`} onClick={(event) => {
                jumpTo(event, index);
              }}>
              <span className={`diff-status diff-status-${file.status}`} title={file.status}>
                {STATUS_LETTER[file.status]}
              </span>
              <span className="diff-path">{file.path}</span>
              <Counts file={file} />
            </a>
          </li>
        ))}
      </ul>
      {diff.files.map((file, index) => (
        <FilePatch key={file.path} file={file} index={index} />
      ))}
    </div>
  );
}

/** The file list's links scroll within the page without touching the hash route. */
function jumpTo(event: MouseEvent, index: number) {
  event.preventDefault();
  document.getElementById(`diff-file-${index}`)?.scrollIntoView({ block: 'start' });
}

function Counts({ file }: { file: FileDiff }) {
  return (
    <span className="diff-counts" aria-label={`${file.insertions} added, ${file.deletions} removed`}>
      <span className="diff-plus">+{file.insertions}</span> <span className="diff-minus">−{file.deletions}</span>
    </span>
  );
}

const FilePatch = memo(function FilePatch({ file, index }: { file: FileDiff; index: number }) {
  const parsed = useMemo(() => parsePatch(file.patch), [file.patch]);
  const language = languageOf(file.path);
  const big = file.insertions + file.deletions > FOLD_LINES;
  return (
    <details className="diff-file" id={`diff-file-${index}`} open={!big}>
      <summary className="diff-file-head">
        <span className={`diff-status diff-status-${file.status}`}>{STATUS_LETTER[file.status]}</span>
        <span className="diff-path">
          {file.old_path && file.old_path !== file.path ? `${file.old_path} → ${file.path}` : file.path}
        </span>
        <Counts file={file} />
      </summary>
      {file.binary ? (
        <p className="diff-note">Binary file; no text to show.</p>
      ) : parsed.hunks.length === 0 ? (
        <p className="diff-note">No line changes (mode or rename only).</p>
      ) : (
        <table className="diff-table">
          {parsed.hunks.map((hunk, h) => (
            <tbody key={h}>
              <tr className="diff-hunk">
                <td colSpan={3}>{hunk.header}</td>
              </tr>
              {hunk.lines.map((line, l) => (
                <Line key={l} line={line} language={language} />
              ))}
            </tbody>
          ))}
        </table>
      )}
      {file.truncated && <p className="diff-note">The patch was cut short: it is too large to show in full.</p>}
    </details>
  );
});

const SIGN: Record<DiffLine['type'], string> = { add: '+', del: '−', context: ' ', note: '' };

function Line({ line, language }: { line: DiffLine; language: string | undefined }) {
  if (line.type === 'note') {
    return (
      <tr className="diff-line diff-note-line">
        <td className="diff-no" />
        <td className="diff-no" />
        <td className="diff-code">{line.text}</td>
      </tr>
    );
  }
  return (
    <tr className={`diff-line diff-${line.type}`}>
      <td className="diff-no">{line.oldNo ?? ''}</td>
      <td className="diff-no">{line.newNo ?? ''}</td>
      <td className="diff-code">
        <span className="diff-sign" aria-hidden="true">
          {SIGN[line.type]}
        </span>
        {highlight(line.text, language).map((token, t) =>
          token.cls ? (
            <span key={t} className={`tok-${token.cls}`}>
              {token.text}
            </span>
          ) : (
            token.text
          ),
        )}
      </td>
    </tr>
  );
}
