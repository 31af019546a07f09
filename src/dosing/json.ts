// JSON values from requests, copied and compared without recursion: a request may nest thousands of levels deep
// (bad input never crashes anything), and neither structuredClone nor a recursive walk survives that.

type Container = Record<string, unknown> | unknown[];

function isContainer(v: unknown): v is Container {
  return typeof v === 'object' && v !== null;
}

interface CopyFrame {
  source: Container;
  keys: string[];
  next: number;
  out: Record<string, unknown>;
}

function copyFrame(source: Container): CopyFrame {
  return {
    source,
    keys: Object.keys(source),
    next: 0,
    out: (Array.isArray(source) ? [] : {}) as Record<string, unknown>,
  };
}

/**
 * A deep copy of a JSON value (objects, arrays, strings, numbers, booleans, null), iteratively. Object members that
 * are not JSON (undefined, functions) are left out, as JSON.stringify would (null inside arrays); an object that
 * contains itself is cut where it recurs.
 * @param value - parsed JSON
 */
export function cloneJson<T>(value: T): T {
  if (!isContainer(value)) {
    return value;
  }
  const root = copyFrame(value);
  const stack: CopyFrame[] = [root];
  const active = new Set<object>([value]);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1] as CopyFrame;
    const key = frame.keys[frame.next];
    if (key === undefined) {
      stack.pop();
      active.delete(frame.source);
      continue;
    }
    frame.next += 1;
    const array = Array.isArray(frame.source);
    const v = (frame.source as Record<string, unknown>)[key];
    if (isContainer(v)) {
      if (active.has(v)) {
        if (array) {
          frame.out[key] = null;
        }
        continue;
      }
      const child = copyFrame(v);
      frame.out[key] = child.out;
      active.add(v);
      stack.push(child);
    } else if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
      frame.out[key] = v;
    } else if (array) {
      frame.out[key] = null;
    }
  }
  return root.out as T;
}

/**
 * True when two JSON values have the same content (object member order and prototypes ignored; members whose value
 * is undefined count as absent), iteratively.
 * @param a - a JSON value
 * @param b - another
 */
export function sameJson(a: unknown, b: unknown): boolean {
  const stack: Array<[unknown, unknown]> = [[a, b]];
  // Pairs already found equal-so-far are not walked twice (this also ends cycles).
  const walked = new Map<object, Set<object>>();
  while (stack.length > 0) {
    const [x, y] = stack.pop() as [unknown, unknown];
    if (x === y) {
      continue;
    }
    if (!isContainer(x) || !isContainer(y) || Array.isArray(x) !== Array.isArray(y)) {
      return false;
    }
    const pairs = walked.get(x) ?? new Set<object>();
    if (pairs.has(y)) {
      continue;
    }
    pairs.add(y);
    walked.set(x, pairs);
    if (Array.isArray(x) && Array.isArray(y)) {
      if (x.length !== y.length) {
        return false;
      }
      x.forEach((v, i) => stack.push([v, y[i]]));
      continue;
    }
    const xs = x as Record<string, unknown>;
    const ys = y as Record<string, unknown>;
    const kx = Object.keys(xs).filter((k) => xs[k] !== undefined);
    const ky = Object.keys(ys).filter((k) => ys[k] !== undefined);
    if (kx.length !== ky.length || kx.some((k) => !Object.prototype.hasOwnProperty.call(ys, k))) {
      return false;
    }
    kx.forEach((k) => stack.push([xs[k], ys[k]]));
  }
  return true;
}
