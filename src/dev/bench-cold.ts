// Cold calls for the benchmark (issue 12 item 7): every request differs from every earlier one in what the decision
// reads, so that nothing computed for an earlier request could be reused. From one request, a generator of bodies:
// request n has its own patient id (everywhere it appears: context, resources, references, links), its own
// draft-order id, its own hookInstance, its own birth date and its own current body weight. The birth dates stay
// adult (36 to 75 years) and the weights at or above 45 kg, so each call is decided along the same path (the bench
// checks the answer), with different inputs. The text is split once; building a body is one concatenation, cheap
// enough for the load generator to make one per request (the ceiling is sent the same sequence of bodies).
import { randomBytes } from 'node:crypto';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/**
 * A generator of cold bodies from a request.
 * @param request - a request with `hookInstance`, `context.patientId`, a Patient with a `birthDate`, a body-weight
 *   Observation (LOINC 29463-7, kg) of its latest date and one draft order
 * @param seed - distinguishes this run's bodies from another run's (random by default)
 * @returns `next()`, the next body (never the same twice), and `at(n)`, body number n
 * @throws Error when the request lacks one of the values it varies
 */
export function coldBodies(
  request: Json,
  seed = randomBytes(4).toString('hex')
): { next: () => string; at: (n: number) => string } {
  const text = JSON.stringify(request);
  const context = request['context'];
  const patientId = isObject(context) ? context['patientId'] : undefined;
  const hookInstance = request['hookInstance'];
  const birthDate = /"birthDate":"(\d{4}-\d{2}-\d{2})"/.exec(text)?.[1];
  const draft = isObject(context) && isObject(context['draftOrders']) ? context['draftOrders']['entry'] : undefined;
  const first: unknown = Array.isArray(draft) ? draft[0] : undefined;
  const orderId = isObject(first) && isObject(first['resource']) ? first['resource']['id'] : undefined;
  const weight = /"value":(\d+(?:\.\d+)?),"unit":"kg"/.exec(text)?.[0];
  if (
    typeof patientId !== 'string' ||
    typeof hookInstance !== 'string' ||
    birthDate === undefined ||
    typeof orderId !== 'string' ||
    weight === undefined
  ) {
    throw new Error('the request lacks a patient id, hookInstance, birth date, draft order id or weight in kg');
  }
  const markers = new Map<string, (n: number) => string>([
    [
      `"hookInstance":"${hookInstance}"`,
      (n) => `"hookInstance":"${seed}-0000-4000-8000-${n.toString(16).padStart(12, '0')}"`,
    ],
    [`"${orderId}"`, (n) => `"${orderId}-${seed}-${n.toString(36)}"`],
    [patientId, (n) => `${patientId}-${seed}-${n.toString(36)}`],
    [
      `"birthDate":"${birthDate}"`,
      (n) => `"birthDate":"${1951 + (n % 40)}-${pad2(1 + (n % 12))}-${pad2(1 + (n % 28))}"`,
    ],
    // Every copy of the current weight (the per-policy prefetch keys repeat it), between 45.0 and 94.9 kg.
    [weight, (n) => `"value":${45 + (n % 500) / 10},"unit":"kg"`],
  ]);
  const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp([...markers.keys()].map(escape).join('|'), 'g');
  const pieces: Array<string | ((n: number) => string)> = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    pieces.push(text.slice(last, match.index));
    const make = markers.get(match[0]);
    if (make) {
      pieces.push(make);
    }
    last = (match.index ?? 0) + match[0].length;
  }
  pieces.push(text.slice(last));
  const at = (n: number): string => {
    let body = '';
    for (const piece of pieces) {
      body += typeof piece === 'string' ? piece : piece(n);
    }
    return body;
  };
  let count = 0;
  return { next: () => at(count++), at };
}
