import { renderMarkdown } from '../../test/helpers/markdown-renderers';
import {
  capitalise,
  clipAtWord,
  cutAtLine,
  escapeData,
  escapeMarkdown,
  fitsSummary,
  singleLine,
  truncate,
} from './markdown';

describe('escapeMarkdown', () => {
  test('HTML becomes entities', () => {
    expect(escapeMarkdown('<script>alert("x")</script> & co')).toBe('&lt;script&gt;alert("x")&lt;/script&gt; &amp; co');
  });

  test('links, images, emphasis, code, strikethrough and table pipes are backslash-escaped', () => {
    expect(escapeMarkdown('[x](javascript:alert(1))')).toBe('\\[x\\](javascript:alert(1))');
    expect(escapeMarkdown('![i](http://e/x.png)')).toBe('!\\[i\\](http://e/x.png)');
    expect(escapeMarkdown('*a* _b_ `c` ~~d~~ e|f \\')).toBe('\\*a\\* \\_b\\_ \\`c\\` \\~\\~d\\~\\~ e\\|f \\\\');
  });

  test('block syntax at the start is neutralised and the text stays on one line', () => {
    expect(escapeMarkdown('# title')).toBe('\\# title');
    expect(escapeMarkdown('- item')).toBe('\\- item');
    expect(escapeMarkdown('1. first')).toBe('1\\. first');
    expect(escapeMarkdown('a\n# b\r\n\tc')).toBe('a # b c');
    expect(escapeMarkdown('CD19-positive B-ALL 0.1 %')).toBe('CD19-positive B-ALL 0.1 %');
  });

  test('numbers, undefined and very long text', () => {
    expect(escapeMarkdown(42)).toBe('42');
    expect(escapeMarkdown(undefined)).toBe('');
    const long = escapeMarkdown('a'.repeat(5000));
    expect(Array.from(long).length).toBe(1000);
    expect(long.endsWith('…')).toBe(true);
  });
});

describe('escapeData: patient text that cannot become a link', () => {
  const LINKS = [
    'www.evil.example',
    'http://evil.example/x?y=1',
    'https://localhost:3000',
    '//evil.example',
    'mailto:a@evil.example',
    'a@evil.example',
    'evil.co/x',
    'пример.рф',
    'xn--e1afmkfd.xn--p1ai',
    '10.0.0.1',
    'javascript:alert(1)',
  ];

  test.each(LINKS)('%s: no renderer links it, and it reads as written', (text) => {
    const md = `- Evidence: ${escapeData(text)}`;
    const rendered = renderMarkdown(md);
    expect(rendered.links).toEqual([]);
    expect(rendered.gfmText).toBe(`Evidence: ${text}`);
    expect(rendered.commonmarkText).toBe(rendered.gfmText);
  });

  test('clinical values keep their form: decimals, codes, clauses are not touched', () => {
    expect(escapeData('MRD 0.5 %, C91.02, 1.04 m2')).toBe('MRD 0.5 %, C91.02, 1.04 m2');
    expect(escapeData('Blincyto 35 mcg')).toBe('Blincyto 35 mcg');
  });

  test('cut at a word, one line', () => {
    expect(escapeData('alpha beta gamma delta', 12)).toBe('alpha beta…');
    expect(escapeData('a\nb', 10)).toBe('a b');
    expect(clipAtWord('abcdefghij', 5)).toBe('abcd…');
  });
});

describe('small helpers', () => {
  test('fitsSummary: one line, at most 139 characters', () => {
    expect(fitsSummary('x'.repeat(139))).toBe(true);
    expect(fitsSummary('x'.repeat(140))).toBe(false);
    expect(fitsSummary('a\nb')).toBe(false);
  });

  test('truncate counts code points', () => {
    expect(truncate('µµµµ', 3)).toBe('µµ…');
    expect(truncate('abc', 3)).toBe('abc');
  });

  test('singleLine collapses control characters', () => {
    expect(singleLine(' a\u0000b\u2028c  ')).toBe('a b c');
  });

  test('capitalise and cutAtLine', () => {
    expect(capitalise('blinatumomab as a single agent')).toBe('Blinatumomab as a single agent');
    expect(cutAtLine('a\nb\nc', 100, '(more)')).toBe('a\nb\nc');
    const cut = cutAtLine(`first line\n${'x'.repeat(50)}\nlast`, 30, '(more)');
    expect(cut).toBe('first line\n\n(more)');
  });
});
