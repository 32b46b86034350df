import { describe, expect, it } from 'vitest';
import { highlight, languageOf, type Token } from './highlight.ts';

const show = (tokens: Token[]) => tokens.map((t) => (t.cls ? `${t.cls}:${t.text}` : t.text));

describe('languageOf', () => {
  it('knows languages by extension and file name', () => {
    expect(languageOf('src/App.tsx')).toBe('js');
    expect(languageOf('server/src/main.rs')).toBe('rust');
    expect(languageOf('Dockerfile')).toBe('shell');
    expect(languageOf('README')).toBeUndefined();
    expect(languageOf('notes.txt')).toBeUndefined();
  });
});

describe('highlight', () => {
  it('colours keywords, strings, numbers and comments', () => {
    expect(show(highlight('const x = "a\\"b" + 42; // done', 'js'))).toEqual([
      'keyword:const',
      ' x = ',
      'string:"a\\"b"',
      ' + ',
      'number:42',
      '; ',
      'comment:// done',
    ]);
  });

  it('knows literals and types', () => {
    expect(show(highlight('let v: Vec<u8> = None;', 'rust'))).toEqual([
      'keyword:let',
      ' v: ',
      'type:Vec',
      '<u8> = ',
      'literal:None',
      ';',
    ]);
  });

  it('treats # as a comment only where it starts one', () => {
    expect(show(highlight('echo "$#" # count', 'shell'))).toEqual(['keyword:echo', ' ', 'string:"$#"', ' ', 'comment:# count']);
  });

  it('closes an unterminated string at the end of the line', () => {
    expect(show(highlight("x = 'open", 'python'))).toEqual(['x = ', "string:'open"]);
  });

  it('does not colour numbers inside identifiers', () => {
    expect(show(highlight('abc123 = 1', 'python'))).toEqual(['abc123 = ', 'number:1']);
  });

  it('returns plain text for unknown languages', () => {
    expect(highlight('const x = 1', undefined)).toEqual([{ text: 'const x = 1' }]);
    expect(highlight('', 'js')).toEqual([]);
  });

  it('handles block comments on one line', () => {
    expect(show(highlight('a /* b */ c', 'c'))).toEqual(['a ', 'comment:/* b */', ' c']);
  });
});
