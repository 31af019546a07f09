// The demo: argument parsing, the 412 it accepts, the terminal view of a response, and whole runs against the
// embedded FHIR server and the real service (a filtered replay, --json, --serve), each leaving nothing running.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDemoArgs, runDemo, type DemoIo } from './demo';
import {
  expectsPreconditionFailed,
  loadFixtureRequests,
  parseRequestFileName,
  pointAtFhirServer,
} from './demo-fixtures';
import { answered, formatCall, makeStyle, viewResponse, type CallResult } from './demo-format';
import { loadServices } from '../policy/load';

/** The demo replays every request to every loaded service: counts follow the policy folders, whatever they are. */
const SERVICE_IDS = loadServices(path.resolve(__dirname, '..', '..', 'cds-services')).map((s) => s.id);
const N = SERVICE_IDS.length;

function capture(): DemoIo & { stdout: () => string; stderr: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out: (t) => void out.push(t),
    err: (t) => void err.push(t),
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  };
}

const ENV = { CDS_LOG_LEVEL: 'silent' };

describe('arguments', () => {
  it('reads substrings and options', () => {
    expect(parseDemoArgs(['--html', 'cards.html']).html).toBe('cards.html');
    expect(parseDemoArgs(['dlbcl', '--json', 'relapsed', '--serve', '--port', '0', '--fhir-port=8081'])).toEqual({
      filters: ['dlbcl', 'relapsed'],
      json: true,
      serve: true,
      color: false,
      help: false,
      port: 0,
      fhirPort: 8081,
    });
    expect(parseDemoArgs([], {}, true).color).toBe(true);
    expect(parseDemoArgs([], { NO_COLOR: '1' }, true).color).toBe(false);
    expect(parseDemoArgs(['--no-color'], {}, true).color).toBe(false);
  });

  it('refuses unknown options and bad ports', () => {
    expect(() => parseDemoArgs(['--verbose'])).toThrow(/unknown option --verbose/);
    expect(() => parseDemoArgs(['--port'])).toThrow(/port number/);
    expect(() => parseDemoArgs(['--port', '70000'])).toThrow(/port number/);
    expect(() => parseDemoArgs(['--html'])).toThrow(/--html needs a file name/);
  });
});

describe('fixtures', () => {
  it('names request files', () => {
    expect(parseRequestFileName('adult-dlbcl--none.json')).toEqual({
      file: 'adult-dlbcl--none.json',
      story: 'adult-dlbcl',
      variant: 'none',
    });
    expect(parseRequestFileName('adult-relapsed--two-orders--full.json')).toEqual({
      file: 'adult-relapsed--two-orders--full.json',
      story: 'adult-relapsed',
      case: 'two-orders',
      variant: 'full',
    });
  });

  it('points a request at the FHIR server without touching the stored one', () => {
    const body = { hook: 'order-sign', fhirServer: 'http://localhost:8080/fhir', context: {} };
    const sent = pointAtFhirServer(body, 'http://127.0.0.1:9/fhir');
    expect(sent.fhirServer).toBe('http://127.0.0.1:9/fhir');
    expect(body.fhirServer).toBe('http://localhost:8080/fhir');
    expect(pointAtFhirServer({ hook: 'order-sign' }, 'http://127.0.0.1:9/fhir')).toEqual({ hook: 'order-sign' });
  });

  it('expects 412 only when data is missing and no fhirServer can supply it', () => {
    const templates = { patient: 'Patient/{{context.patientId}}', coverage: 'Coverage?patient={{context.patientId}}' };
    const order = (medication: Record<string, unknown>): Record<string, unknown> => ({
      context: {
        draftOrders: {
          resourceType: 'Bundle',
          entry: [{ resource: { resourceType: 'MedicationRequest', ...medication } }],
        },
      },
    });
    const full = { patient: { resourceType: 'Patient' }, coverage: null };
    expect(expectsPreconditionFailed({ ...order({}), prefetch: full }, templates)).toBe(false);
    expect(expectsPreconditionFailed({ ...order({}), prefetch: { patient: full.patient } }, templates)).toBe(true);
    expect(
      expectsPreconditionFailed(
        { ...order({}), prefetch: { ...full, coverage: { resourceType: 'OperationOutcome', issue: [] } } },
        templates
      )
    ).toBe(true);
    expect(expectsPreconditionFailed({ ...order({}), fhirServer: 'http://x/fhir' }, templates)).toBe(false);
    const byReference = order({ medicationReference: { reference: 'Medication/m1' } });
    expect(expectsPreconditionFailed({ ...byReference, prefetch: full }, templates)).toBe(true);
    const held = {
      ...full,
      meds: { resourceType: 'Bundle', entry: [{ resource: { resourceType: 'Medication', id: 'm1' } }] },
    };
    expect(expectsPreconditionFailed({ ...byReference, prefetch: held }, templates)).toBe(false);
  });

  it('every stored request has a story and a variant', () => {
    const requests = loadFixtureRequests();
    expect(requests.length).toBeGreaterThan(0);
    for (const r of requests) {
      expect(['full', 'partial', 'none', 'sandbox']).toContain(r.name.variant);
      expect(r.story).not.toBe('');
    }
  });
});

describe('the view of one call', () => {
  const base: CallResult = {
    file: 'x--none.json',
    story: 'x',
    variant: 'none',
    serviceId: 'svc',
    status: 200,
    ms: 12,
    body: { cards: [] },
    preconditionExpected: false,
  };

  it('counts 200 and the expected 412 as answered, nothing else', () => {
    expect(answered(base)).toBe(true);
    expect(answered({ ...base, status: 412 })).toBe(false);
    expect(answered({ ...base, status: 412, preconditionExpected: true })).toBe(true);
    expect(answered({ ...base, status: 500 })).toBe(false);
    expect(answered({ ...base, error: 'ECONNREFUSED' })).toBe(false);
  });

  it('shows an OperationOutcome by our error code and expression', () => {
    const body = {
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'processing',
          details: {
            coding: [{ system: 'http://example.org/fhir/CodeSystem/cds-error', code: 'prefetch-unavailable' }],
          },
          expression: ['prefetch.coverage'],
        },
      ],
    };
    expect(viewResponse(body).issues).toEqual(['prefetch-unavailable at prefetch.coverage']);
    const lines = formatCall({ ...base, status: 412, body, preconditionExpected: true }, makeStyle(false));
    expect(lines.join('\n')).toContain('412 (412 expected: no fhirServer)');
    expect(lines.join('\n')).toContain('issue prefetch-unavailable at prefetch.coverage');
  });

  it('survives bodies that are not what a service sends', () => {
    for (const body of [undefined, 'text', [], { cards: 'no' }, { cards: [null, 1, { extension: 'x' }] }]) {
      expect(() => formatCall({ ...base, body }, makeStyle(true))).not.toThrow();
    }
  });
});

describe('whole runs', () => {
  it('replays the matching requests to every service, prints each outcome and closes everything', async () => {
    const io = capture();
    const run = await runDemo(['--no-color', 'adult-dlbcl--none', 'no-order-id', 'other-drug'], io, ENV);
    expect(run.code).toBe(0);
    expect(run.servers).toBeUndefined();
    expect(run.results).toHaveLength(3 * N);
    expect(run.results.every((r) => r.status === 200)).toBe(true);
    const out = io.stdout();
    expect(out).toContain('== adult-dlbcl--none.json');
    // Each card as an EHR shows it: indicator and summary, source, the detail as text, links, suggestions.
    expect(out).toContain(
      '[warning] Blinatumomab cycle 1: not covered: the diagnosis on file is excluded by the policy'
    );
    expect(out).toContain('MMM Healthcare · coverage card');
    expect(out).toMatch(/\n {6}Why: Diffuse large B-cell lymphoma is not covered \(000 D\.i\)/);
    expect(out).toMatch(/\n {6}• Not met: B-cell precursor ALL diagnosis \(Diffuse large B-cell lymphoma/);
    expect(out).toMatch(/\[Read the policy\] http:\/\/127\.0\.0\.1:\d+\/policies\/blinatumomab-mmm#000-d\.i/);
    expect(out).toContain('[info] Blinatumomab cycle 1: likely approved with prior authorization');
    expect(out).not.toMatch(/\*\*|^\s*- /m);
    expect(out).toContain('system action update MedicationRequest/dlbcl-blina-draft: not-covered / - / -');
    expect(out).toContain('{"cards": []}: no governed order');
    expect(out).toContain(`${3 * N} calls (3 requests x ${N} services); ${3 * N} answered; 0 failed`);
    expect(out).not.toContain('\u001b[');
    // Nothing listens any more.
    const service = /CDS service (\S+)/.exec(out)?.[1] as string;
    await expect(fetch(`${service}/health`)).rejects.toThrow();
  });

  it('--json prints one JSON document per call on stdout and the rest on stderr', async () => {
    const io = capture();
    const run = await runDemo(['--json', 'other-drug'], io, ENV);
    expect(run.code).toBe(0);
    const docs = io
      .stdout()
      .split(/\n(?=\{)/)
      .map((d) => JSON.parse(d) as { request: string; service: string; status: number; response: unknown });
    expect(docs.map((d) => [d.service, d.status, d.response])).toEqual(
      SERVICE_IDS.map((id) => [id, 200, { cards: [] }])
    );
    expect(io.stderr()).toContain(`${N} calls`);
  });

  it('--html writes one page with every card rendered by a GFM renderer, and no script', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-html-'));
    try {
      const file = path.join(dir, 'cards.html');
      const io = capture();
      const run = await runDemo(['--no-color', '--html', file, 'adult-mrd-positive-no-phase--full'], io, ENV);
      expect(run.code).toBe(0);
      const html = fs.readFileSync(file, 'utf8');
      expect(io.stdout()).toContain(`wrote ${file} (${N} calls)`);
      expect(html).toMatch(/^<!doctype html>/);
      expect(html).not.toMatch(/<script/i);
      expect(html).toContain("default-src 'none'");
      expect(html).toContain(
        '<div class="summary">Blinatumomab cycle 1: prior authorization needs 1 document: first or second complete remission</div>'
      );
      expect(html).toContain(
        '<li><strong>Unknown:</strong> first or second complete remission (not in the record)</li>'
      );
      expect(html).toContain(
        '<span class="button">Create a task to complete the MMM Healthcare documentation questionnaire</span>'
      );
      expect(html).toMatch(
        /<a class="button link" href="http:\/\/127\.0\.0\.1:\d+\/policies\/blinatumomab-mmm#000-a\.iii\.b"/
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--serve keeps both servers up and prints their URLs', async () => {
    const io = capture();
    const run = await runDemo(['--no-color', '--serve', 'adult-dlbcl--full'], io, ENV);
    try {
      expect(run.code).toBe(0);
      expect(run.servers).toBeDefined();
      const out = io.stdout();
      expect(out).toContain(`curl -s ${run.servers?.serviceUrl}/cds-services`);
      expect(out).toContain(run.servers?.fhirUrl);
      const discovery = await fetch(`${run.servers?.serviceUrl}/cds-services`);
      expect(discovery.status).toBe(200);
      const patient = await fetch(`${run.servers?.fhirUrl}/Patient/dlbcl-patient`);
      expect(patient.status).toBe(200);
    } finally {
      await run.servers?.close();
    }
  });

  it('a usage error exits 2, an unmatched substring 1, both without starting anything', async () => {
    const usage = capture();
    expect((await runDemo(['--bogus'], usage, ENV)).code).toBe(2);
    expect(usage.stderr()).toContain('usage: npm run demo');
    const none = capture();
    expect((await runDemo(['no-such-story'], none, ENV)).code).toBe(1);
    expect(none.stderr()).toContain('no request file');
  });
});
