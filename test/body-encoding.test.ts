// Request bodies with a Content-Encoding (contract section 3): gzip, deflate and br are inflated; a body that does not
// decode as its encoding says is 400 invalid-body-encoding; any other encoding is 415. Over HTTP, the real app.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { ERROR_SYSTEM } from '../src/errors';
import { fixtureRequest } from './helpers/live-app';
import { buildServiceApp, MMM, type ServiceApp } from './helpers/service-app';

const FIXTURE = 'adult-relapsed-ph-neg-cycle1-stepup--full.json';
const PATH = `/cds-services/${MMM}`;

interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** POSTs exactly these bytes (supertest would serialise a Buffer as JSON). */
async function post(app: ServiceApp, body: Buffer, encoding: string | undefined): Promise<Answer> {
  const server = app.app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    return await new Promise<Answer>((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'application/json', 'Content-Length': body.length };
      if (encoding !== undefined) {
        headers['Content-Encoding'] = encoding;
      }
      const req = http.request({ host: '127.0.0.1', port, path: PATH, method: 'POST', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) })
        );
      });
      req.on('error', reject);
      req.end(body);
    });
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

function errorCodes(res: Answer): unknown[] {
  expect(res.body.resourceType).toBe('OperationOutcome');
  return (res.body.issue as Array<{ details: { coding: Array<{ system: string; code: string }> } }>).map((i) => {
    expect(i.details.coding[0]?.system).toBe(ERROR_SYSTEM);
    return i.details.coding[0]?.code;
  });
}

describe('request body encodings', () => {
  let app: ServiceApp;
  const json = Buffer.from(JSON.stringify(fixtureRequest(FIXTURE)));
  beforeAll(async () => {
    app = await buildServiceApp();
  });
  afterAll(() => app.close());

  it.each([
    ['gzip', zlib.gzipSync(json)],
    ['GZIP', zlib.gzipSync(json)],
    ['deflate', zlib.deflateSync(json)],
    ['br', zlib.brotliCompressSync(json)],
    ['identity', json],
  ])('a valid %s body is answered as the plain one', async (encoding, body) => {
    const plain = await post(app, json, undefined);
    const res = await post(app, body, encoding);
    expect(plain.status).toBe(200);
    expect(res.status).toBe(200);
    expect(res.body.cards.map((c: { summary: string }) => c.summary)).toEqual(
      plain.body.cards.map((c: { summary: string }) => c.summary)
    );
  });

  const gzipped = zlib.gzipSync(json);
  const corrupt = Buffer.from(gzipped);
  corrupt.fill(0x55, 20, 60);
  it.each([
    ['gzip', 'plain JSON', json],
    ['gzip', 'corrupt data', corrupt],
    ['gzip', 'a truncated stream', gzipped.subarray(0, gzipped.length - 30)],
    ['deflate', 'plain text', Buffer.from('not deflate at all')],
    ['br', 'plain JSON', json],
    ['br', 'random bytes', Buffer.from(Array.from({ length: 64 }, (_v, i) => (i * 37 + 11) % 256))],
  ])('a %s body of %s is 400 invalid-body-encoding, never a 500', async (encoding, _what, body) => {
    const res = await post(app, body, encoding);
    expect(res.status).toBe(400);
    expect(errorCodes(res)).toEqual(['invalid-body-encoding']);
    expect(res.body.issue[0].expression).toBeUndefined();
  });

  it.each(['compress', 'zstd', 'x-custom', 'gzip, br'])('Content-Encoding %s is 415', async (encoding) => {
    const res = await post(app, json, encoding);
    expect(res.status).toBe(415);
    expect(errorCodes(res)).toEqual(['unsupported-media-type']);
  });

  it('a gzip body that inflates beyond the body limit is 413, not read whole', async () => {
    const small = await buildServiceApp({ env: { CDS_BODY_LIMIT: '64kb' } });
    try {
      const bomb = zlib.gzipSync(Buffer.alloc(10 * 1024 * 1024, 0x20));
      const res = await post(small, bomb, 'gzip');
      expect(res.status).toBe(413);
      expect(errorCodes(res)).toEqual(['payload-too-large']);
    } finally {
      await small.close();
    }
  });
});
