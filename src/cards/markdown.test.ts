import {
  codeSpan,
  escapeMarkdown,
  markdownTable,
  singleLine,
  toSummary,
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

describe('summaries, tables and small helpers', () => {
  test('toSummary keeps at most 139 characters and one line', () => {
    expect(toSummary('short\nsummary')).toBe('short summary');
    const s = toSummary('word '.repeat(60));
    expect(Array.from(s).length).toBeLessThanOrEqual(139);
    expect(s.endsWith('…')).toBe(true);
    expect(toSummary('x'.repeat(139))).toBe('x'.repeat(139));
  });

  test('truncate counts code points', () => {
    expect(truncate('µµµµ', 3)).toBe('µµ…');
    expect(truncate('abc', 3)).toBe('abc');
  });

  test('singleLine collapses control characters', () => {
    expect(singleLine(' a\u0000b\u2028c  ')).toBe('a b c');
  });

  test('markdownTable escapes every cell', () => {
    expect(markdownTable(['A', 'B'], [['x|y', '<b>']])).toBe('| A | B |\n| --- | --- |\n| x\\|y | &lt;b&gt; |');
  });

  test('codeSpan removes backticks', () => {
    expect(codeSpan('http://x/a|1`')).toBe('`http://x/a|1`');
  });
});
