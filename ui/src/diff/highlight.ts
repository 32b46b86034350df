/**
 * A small syntax highlighter for diff lines: comments, strings, numbers, keywords and literals
 * for the common languages, one line at a time (a diff shows fragments, so no state is carried
 * across lines). It returns tokens; the view renders them as spans, never as HTML.
 */

export type TokenClass = 'comment' | 'string' | 'number' | 'keyword' | 'literal' | 'type';

export interface Token {
  text: string;
  cls?: TokenClass;
}

interface Language {
  keywords: ReadonlySet<string>;
  literals: ReadonlySet<string>;
  lineComment: readonly string[];
  blockComment: boolean;
  quotes: string;
  /** Capitalised identifiers are types (Rust, TypeScript, Go, …). */
  types: boolean;
}

const words = (text: string) => new Set(text.split(/\s+/).filter(Boolean));

const C_LIKE_LITERALS = words('true false null undefined NaN Infinity nil None True False self this super');

const LANGUAGES: Record<string, Language> = {
  js: {
    keywords: words(
      'async await break case catch class const continue debugger default delete do else enum export extends finally for from function get if implements import in instanceof interface let new of package private protected public readonly return set static switch throw try type typeof var void while with yield as satisfies keyof declare abstract override namespace',
    ),
    literals: C_LIKE_LITERALS,
    lineComment: ['//'],
    blockComment: true,
    quotes: '"\'`',
    types: true,
  },
  rust: {
    keywords: words(
      'as async await break const continue crate dyn else enum extern fn for if impl in let loop match mod move mut pub ref return static struct trait type unsafe use where while Self',
    ),
    literals: words('true false self super None Some Ok Err'),
    lineComment: ['//'],
    blockComment: true,
    quotes: '"',
    types: true,
  },
  python: {
    keywords: words(
      'and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield match case',
    ),
    literals: words('True False None self cls'),
    lineComment: ['#'],
    blockComment: false,
    quotes: '"\'',
    types: true,
  },
  go: {
    keywords: words(
      'break case chan const continue default defer else fallthrough for func go goto if import interface map package range return select struct switch type var',
    ),
    literals: words('true false nil iota'),
    lineComment: ['//'],
    blockComment: true,
    quotes: '"\'`',
    types: true,
  },
  c: {
    keywords: words(
      'auto break case char class const continue default do double else enum extern final float for goto if import include int long namespace new private protected public return short signed sizeof static struct switch template throw try catch typedef union unsigned using virtual void volatile while fun val var when object override package interface extends implements',
    ),
    literals: C_LIKE_LITERALS,
    lineComment: ['//'],
    blockComment: true,
    quotes: '"\'',
    types: true,
  },
  shell: {
    keywords: words(
      'if then else elif fi for in do done while until case esac function return local export set unset echo exit readonly shift source cd',
    ),
    literals: words('true false'),
    lineComment: ['#'],
    blockComment: false,
    quotes: '"\'',
    types: false,
  },
  ruby: {
    keywords: words(
      'alias and begin break case class def defined do else elsif end ensure for if in module next not or redo rescue retry return then unless until when while yield require',
    ),
    literals: words('true false nil self'),
    lineComment: ['#'],
    blockComment: false,
    quotes: '"\'',
    types: true,
  },
  sql: {
    keywords: words(
      'select from where insert into values update set delete create table index drop alter add primary key foreign references join left right inner outer on group by order having limit offset as and or not null is in exists distinct union all case when then else end begin commit SELECT FROM WHERE INSERT INTO VALUES UPDATE SET DELETE CREATE TABLE INDEX DROP ALTER ADD PRIMARY KEY FOREIGN REFERENCES JOIN LEFT RIGHT INNER OUTER ON GROUP BY ORDER HAVING LIMIT OFFSET AS AND OR NOT NULL IS IN EXISTS DISTINCT UNION ALL CASE WHEN THEN ELSE END BEGIN COMMIT',
    ),
    literals: words('true false TRUE FALSE'),
    lineComment: ['--'],
    blockComment: true,
    quotes: '"\'',
    types: false,
  },
  data: {
    keywords: new Set(),
    literals: words('true false null yes no on off ~'),
    lineComment: ['#'],
    blockComment: false,
    quotes: '"\'',
    types: false,
  },
  json: {
    keywords: new Set(),
    literals: words('true false null'),
    lineComment: [],
    blockComment: false,
    quotes: '"',
    types: false,
  },
  css: {
    keywords: words('important media supports import keyframes from to and not only'),
    literals: new Set(),
    lineComment: [],
    blockComment: true,
    quotes: '"\'',
    types: false,
  },
};

const EXTENSIONS: Record<string, string> = {
  js: 'js', mjs: 'js', cjs: 'js', jsx: 'js', ts: 'js', tsx: 'js', mts: 'js', cts: 'js',
  rs: 'rust',
  py: 'python', pyi: 'python',
  go: 'go',
  c: 'c', h: 'c', cc: 'c', cpp: 'c', hpp: 'c', java: 'c', kt: 'c', kts: 'c', swift: 'c', cs: 'c', scala: 'c', dart: 'c',
  sh: 'shell', bash: 'shell', zsh: 'shell',
  rb: 'ruby',
  sql: 'sql',
  yml: 'data', yaml: 'data', toml: 'data', ini: 'data', conf: 'data', env: 'data',
  json: 'json',
  css: 'css', scss: 'css', less: 'css',
};

const FILE_NAMES: Record<string, string> = {
  Dockerfile: 'shell',
  Makefile: 'shell',
  Gemfile: 'ruby',
  Rakefile: 'ruby',
};

/** The language of a path, or undefined for plain text. */
export function languageOf(path: string): string | undefined {
  const name = path.split('/').at(-1) ?? path;
  if (FILE_NAMES[name]) return FILE_NAMES[name];
  const dot = name.lastIndexOf('.');
  if (dot < 0) return undefined;
  return EXTENSIONS[name.slice(dot + 1).toLowerCase()];
}

const NUMBER = /^(?:0[xX][\da-fA-F_]+|0[bB][01_]+|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?)(?:[a-zA-Z_]\w*)?/;
const IDENT = /^[A-Za-z_$][\w$]*/;

/** Tokens of one line in `language` (from `languageOf`); plain text for unknown languages. */
export function highlight(line: string, language: string | undefined): Token[] {
  const lang = language ? LANGUAGES[language] : undefined;
  if (!lang || line.length > 2000) return line ? [{ text: line }] : [];
  const tokens: Token[] = [];
  let plain = '';
  const push = (text: string, cls: TokenClass) => {
    if (plain) tokens.push({ text: plain });
    plain = '';
    tokens.push({ text, cls });
  };
  let i = 0;
  while (i < line.length) {
    const rest = line.slice(i);
    const char = line[i] ?? '';
    const comment = lang.lineComment.find((marker) => rest.startsWith(marker));
    if (comment !== undefined && (comment !== '#' || i === 0 || /\s/.test(line[i - 1] ?? ''))) {
      push(rest, 'comment');
      break;
    }
    if (lang.blockComment && rest.startsWith('/*')) {
      const end = rest.indexOf('*/', 2);
      const text = end < 0 ? rest : rest.slice(0, end + 2);
      push(text, 'comment');
      i += text.length;
      continue;
    }
    if (lang.quotes.includes(char)) {
      let j = i + 1;
      while (j < line.length && line[j] !== char) j += line[j] === '\\' ? 2 : 1;
      const text = line.slice(i, Math.min(j + 1, line.length));
      push(text, 'string');
      i += text.length;
      continue;
    }
    const previous = line[i - 1] ?? '';
    if (/\d/.test(char) && !/[\w$]/.test(previous)) {
      const number = NUMBER.exec(rest);
      if (number) {
        push(number[0], 'number');
        i += number[0].length;
        continue;
      }
    }
    const ident = IDENT.exec(rest);
    if (ident) {
      const word = ident[0];
      if (lang.keywords.has(word)) push(word, 'keyword');
      else if (lang.literals.has(word)) push(word, 'literal');
      else if (lang.types && /^[A-Z][a-z]/.test(word)) push(word, 'type');
      else plain += word;
      i += word.length;
      continue;
    }
    plain += char;
    i++;
  }
  if (plain) tokens.push({ text: plain });
  return tokens;
}
