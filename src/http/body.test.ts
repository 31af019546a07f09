import { HttpError } from '../errors';
import { MAX_JSON_DEPTH, checkContentType, parseJsonBody } from './body';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e instanceof HttpError ? e.issues[0]?.code : 'not an HttpError';
  }
}

describe('checkContentType', () => {
  it.each([
    'application/json',
    'application/fhir+json',
    'application/json;charset=UTF-8',
    'application/json; charset="utf-8"',
    'APPLICATION/JSON',
    'application/fhir+json; fhirVersion=4.0',
  ])('accepts %s', (type) => {
    expect(codeOf(() => checkContentType(type))).toBeUndefined();
  });

  it.each([
    undefined,
    '',
    'text/plain',
    'application/xml',
    'application/jsonx',
    'application/json; charset=iso-8859-1',
    'multipart/form-data',
  ])('refuses %s with 415', (type) => {
    expect(codeOf(() => checkContentType(type))).toBe('unsupported-media-type');
  });
});

describe('parseJsonBody', () => {
  it('parses UTF-8 JSON, skipping a byte-order mark', () => {
    expect(parseJsonBody(Buffer.from('\uFEFF{"a":"é"}', 'utf8'))).toEqual({ a: 'é' });
  });

  it.each([
    ['empty', Buffer.alloc(0)],
    ['absent', undefined],
    ['truncated', Buffer.from('{"a":')],
    ['not UTF-8', Buffer.from([0x22, 0xc3, 0x28, 0x22])],
  ])('refuses %s with invalid-json', (_name, raw) => {
    expect(codeOf(() => parseJsonBody(raw))).toBe('invalid-json');
  });

  it('accepts nesting up to the limit and refuses deeper documents with invalid-json', () => {
    const nested = (levels: number): Buffer => Buffer.from('['.repeat(levels) + ']'.repeat(levels));
    expect(codeOf(() => parseJsonBody(nested(MAX_JSON_DEPTH)))).toBeUndefined();
    expect(codeOf(() => parseJsonBody(nested(MAX_JSON_DEPTH + 1)))).toBe('invalid-json');
    // Far deeper than any recursive copy or JSON.stringify could handle: refused, not crashed.
    expect(codeOf(() => parseJsonBody(nested(200000)))).toBe('invalid-json');
    // Objects count as arrays do.
    const objects = (levels: number): Buffer => Buffer.from('{"a":'.repeat(levels - 1) + '{}' + '}'.repeat(levels - 1));
    expect(codeOf(() => parseJsonBody(objects(MAX_JSON_DEPTH)))).toBeUndefined();
    expect(codeOf(() => parseJsonBody(objects(MAX_JSON_DEPTH + 1)))).toBe('invalid-json');
  });

  it('counts only the brackets outside strings, escaped quotes and backslashes included', () => {
    const deep = '['.repeat(MAX_JSON_DEPTH + 5);
    const values = [
      { [deep]: deep },
      { a: `say "${deep}"`, b: `${deep}\\`, c: [`\\"${deep}`] },
      { text: `\\`, after: [[[1]]] },
    ];
    for (const value of values) {
      expect(parseJsonBody(Buffer.from(JSON.stringify(value)))).toEqual(value);
    }
    // A string ending in an escaped backslash closes there: the brackets after it count.
    const tail = (levels: number): string => '['.repeat(levels) + ']'.repeat(levels);
    const wrapped = (levels: number): Buffer => Buffer.from(`["x\\\\",${tail(levels - 1)}]`);
    expect(codeOf(() => parseJsonBody(wrapped(MAX_JSON_DEPTH)))).toBeUndefined();
    expect(codeOf(() => parseJsonBody(wrapped(MAX_JSON_DEPTH + 1)))).toBe('invalid-json');
  });
});
