// Reading a service or feedback call's body, after the 404 and 401 checks (contract section 3 order:
// 415 content type -> 413 size -> 400 unparseable JSON).
import express, { type Request, type Response } from 'express';
import { HttpError } from '../errors';

const JSON_TYPES = new Set(['application/json', 'application/fhir+json']);
const UTF8 = new Set(['utf-8', 'utf8']);

/**
 * 415 unless the Content-Type is JSON or FHIR JSON (checklist T-4); parameters are allowed, and a charset, when
 * given, must be UTF-8 (RFC 8259 section 8.1).
 * @param header - the Content-Type header
 */
export function checkContentType(header: string | undefined): void {
  if (header === undefined || header.trim() === '') {
    throw new HttpError({
      code: 'unsupported-media-type',
      message: 'A Content-Type of application/json or application/fhir+json is required.',
    });
  }
  const [type = '', ...params] = header.split(';');
  if (!JSON_TYPES.has(type.trim().toLowerCase())) {
    throw new HttpError({
      code: 'unsupported-media-type',
      message: 'The Content-Type must be application/json or application/fhir+json.',
    });
  }
  for (const param of params) {
    const eq = param.indexOf('=');
    const name = param
      .slice(0, eq < 0 ? undefined : eq)
      .trim()
      .toLowerCase();
    const value =
      eq < 0
        ? ''
        : param
            .slice(eq + 1)
            .trim()
            .replace(/^"(.*)"$/, '$1')
            .toLowerCase();
    if (name === 'charset' && !UTF8.has(value)) {
      throw new HttpError({ code: 'unsupported-media-type', message: 'Only UTF-8 JSON is accepted.' });
    }
  }
}

/** The Content-Encodings a request body may have (contract section 3); any other is 415. */
export const BODY_ENCODINGS: ReadonlySet<string> = new Set(['identity', 'gzip', 'deflate', 'br']);

/**
 * 415 unless the Content-Encoding is absent or one of identity, gzip, deflate and br (one coding, any case).
 * @param header - the Content-Encoding header
 * @returns the encoding, lower-cased (`identity` when absent)
 */
export function checkContentEncoding(header: string | undefined): string {
  const encoding = (header ?? '').trim().toLowerCase() || 'identity';
  if (!BODY_ENCODINGS.has(encoding)) {
    throw new HttpError({
      code: 'unsupported-media-type',
      message: 'The Content-Encoding must be identity, gzip, deflate or br.',
    });
  }
  return encoding;
}

/** body-parser's own failures carry a `type`; a decompression stream's errors (zlib, brotli) do not. */
function isDecodingFailure(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { type?: unknown }).type === undefined;
}

/**
 * A raw body reader: any content type (already checked), inflating gzip/deflate/br, with the size limit (which
 * applies to the inflated bytes). A body that does not decode as its Content-Encoding says is 400
 * `invalid-body-encoding`; an encoding we do not know is 415 (checked before anything is read).
 */
export function createBodyReader(limit: number): (req: Request, res: Response) => Promise<Buffer | undefined> {
  const parser = express.raw({ type: () => true, limit });
  return (req, res) =>
    new Promise((resolve, reject) => {
      const encoding = checkContentEncoding(req.headers['content-encoding']);
      parser(req, res, (err?: unknown) => {
        if (err) {
          if (encoding !== 'identity' && isDecodingFailure(err)) {
            reject(
              new HttpError({
                code: 'invalid-body-encoding',
                message: `The request body is not valid ${encoding} data.`,
              })
            );
            return;
          }
          reject(err instanceof Error ? err : new Error('body read failed'));
          return;
        }
        const body: unknown = req.body;
        resolve(Buffer.isBuffer(body) ? body : undefined);
      });
    });
}

/**
 * Parses a body as UTF-8 JSON (a byte-order mark is skipped).
 * @param raw - the bytes read
 * @throws HttpError 400 `invalid-json` (no expression)
 */
export function parseJsonBody(raw: Buffer | undefined): unknown {
  if (!raw || raw.length === 0) {
    throw new HttpError({ code: 'invalid-json', message: 'The request body is empty.' });
  }
  let text: string;
  try {
    text = UTF8_DECODER.decode(raw);
  } catch {
    throw new HttpError({ code: 'invalid-json', message: 'The request body is not valid UTF-8.' });
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    throw new HttpError({ code: 'invalid-json', message: 'The request body is not valid JSON.' });
  }
  if (nestingExceeds(text, MAX_JSON_DEPTH)) {
    // RFC 8259 section 9 lets a parser limit nesting. FHIR resources nest a few dozen levels at most; a document
    // nested deeper is refused whole, so no later copy or serialisation can meet a stack it would overflow.
    throw new HttpError({
      code: 'invalid-json',
      message: `The request body nests objects and arrays deeper than ${MAX_JSON_DEPTH} levels.`,
    });
  }
  return value;
}

/** The deepest nesting of objects and arrays a request body may have. */
export const MAX_JSON_DEPTH = 128;

/** One decoder for every body (fatal: invalid UTF-8 throws; `decode` without `stream` keeps no state between calls). */
const UTF8_DECODER = new TextDecoder('utf-8', { fatal: true });

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * True when a valid JSON text nests objects and arrays deeper than `limit` levels: its brackets outside strings,
 * counted in one pass over the text (no walk over the parsed value, no allocation; issue 12 item 7).
 * @param text - text JSON.parse accepted
 * @param limit - the deepest nesting allowed
 */
export function nestingExceeds(text: string, limit: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // The string's closing quote: the next one not escaped (preceded by an even number of backslashes).
      let end = text.indexOf('"', i + 1);
      while (end > 0) {
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === BACKSLASH) {
          slashes += 1;
        }
        if (slashes % 2 === 0) {
          break;
        }
        end = text.indexOf('"', end + 1);
      }
      if (end < 0) {
        return false;
      }
      i = end;
    } else if (c === 0x7b || c === 0x5b) {
      depth += 1;
      if (depth > limit) {
        return true;
      }
    } else if (c === 0x7d || c === 0x5d) {
      depth -= 1;
    }
  }
  return false;
}
