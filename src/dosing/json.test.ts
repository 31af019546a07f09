import { cloneJson, sameJson } from './json';

function nested(depth: number, leaf: unknown = 'x'): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) {
    v = i % 2 === 0 ? [v] : { nested: v };
  }
  return v;
}

describe('cloneJson', () => {
  test('copies JSON deeply: equal content, no shared objects', () => {
    const shared = { code: 'ug/d' };
    const value = { a: [1, 'two', null, true, { b: shared }], c: shared, d: undefined };
    const copy = cloneJson(value);
    expect(copy).toEqual({ a: [1, 'two', null, true, { b: { code: 'ug/d' } }], c: { code: 'ug/d' } });
    expect('d' in copy).toBe(false);
    expect(copy.c).not.toBe(shared);
    expect((copy.a[4] as { b: unknown }).b).not.toBe(shared);
  });

  test('100,000 levels deep without overflowing the stack', () => {
    const deep = nested(100000);
    const copy = cloneJson(deep);
    expect(copy).not.toBe(deep);
    expect(sameJson(copy, deep)).toBe(true);
  });

  test('a cycle is cut where it recurs', () => {
    const a: Record<string, unknown> = { x: 1 };
    a.self = a;
    a.list = [a];
    expect(cloneJson(a)).toEqual({ x: 1, list: [null] });
  });
});

describe('sameJson', () => {
  test('content, not member order or undefined members', () => {
    expect(sameJson({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1, z: undefined })).toBe(true);
    expect(sameJson({ a: 1 }, { a: 2 })).toBe(false);
    expect(sameJson({ a: 1 }, { b: 1 })).toBe(false);
    expect(sameJson([1, 2], [2, 1])).toBe(false);
    expect(sameJson([], {})).toBe(false);
    expect(sameJson(undefined, { a: 1 })).toBe(false);
    expect(sameJson(nested(50000, 1), nested(50000, 2))).toBe(false);
  });
});
