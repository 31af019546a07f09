// The generic policy runner (house style 3.6): loads every service of cds-services/ with the real loader, and
// generates one jest test per case of each cds-services/*/cases.yaml. A case fails on any difference from what it
// expects and on any FHIRPath runtime error it does not expect.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildCaseInput, compareWithExpectations, readCaseFile } from '../src/policy/cases';
import type { CompiledPolicy } from '../src/policy/compiled';
import { evaluateOrders } from '../src/policy/evaluate';
import { loadServices } from '../src/policy/load';

const servicesDir = path.resolve(__dirname, '..', 'cds-services');
const services = loadServices(servicesDir);

test('every folder of cds-services with a policy is a loaded service', () => {
  const folders = fs
    .readdirSync(servicesDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(servicesDir, e.name, 'policy.yaml')))
    .map((e) => e.name)
    .sort();
  expect(services.map((s) => s.id)).toEqual(folders);
  expect(folders.length).toBeGreaterThanOrEqual(2);
});

for (const service of services) {
  const cases = readCaseFile(path.join(service.dir, 'cases.yaml'));
  const policy = service.policy as CompiledPolicy;

  describe(`${service.id} cases`, () => {
    for (const c of cases.cases) {
      test(c.name, () => {
        const input = buildCaseInput(service, cases, c);
        const before = JSON.stringify(input.request);
        const { decisions, diagnostics } = evaluateOrders(service, input);
        expect(compareWithExpectations(service, c, decisions, diagnostics)).toEqual([]);
        // The request is never modified (fhirpath annotates what it evaluates: the engine evaluates copies).
        expect(JSON.stringify(input.request)).toBe(before);
      });
    }

    test('every pathway is the best pathway of some case', () => {
      const expected = new Set(
        cases.cases.flatMap((c) => (Array.isArray(c.expect) ? c.expect : [c.expect]).map((e) => e.pathway))
      );
      expect(policy.pathways.map((p) => p.id).filter((id) => !expected.has(id))).toEqual([]);
    });

    test('every pathway is fully met (likely) in some case', () => {
      const likely = new Set(
        cases.cases.flatMap((c) =>
          (Array.isArray(c.expect) ? c.expect : [c.expect])
            .filter((e) => e.likelihood === 'likely' || (e.likelihood === 'needs-documentation' && e.pathway))
            .map((e) => e.pathway)
        )
      );
      expect(policy.pathways.map((p) => p.id).filter((id) => !likely.has(id))).toEqual([]);
    });

    test('every exclusion decides some case', () => {
      const seen = new Set(
        cases.cases.flatMap((c) =>
          (Array.isArray(c.expect) ? c.expect : [c.expect]).flatMap((e) => e.notCoveredBy ?? [])
        )
      );
      expect(policy.exclusions.map((x) => x.id).filter((id) => !seen.has(id))).toEqual([]);
    });

    test('every criterion reaches each status it can reach in some case', () => {
      const reached = new Map<string, Set<string>>();
      for (const c of cases.cases) {
        for (const e of Array.isArray(c.expect) ? c.expect : [c.expect]) {
          for (const [id, want] of Object.entries(e.criteria ?? {})) {
            const status = typeof want === 'string' ? want : want.status;
            reached.set(id, new Set([...(reached.get(id) ?? []), status]));
          }
        }
      }
      const missing: string[] = [];
      for (const criterion of policy.criteria) {
        const statuses = reached.get(criterion.id) ?? new Set<string>();
        if (criterion.alwaysUnknown) {
          if (!statuses.has('unknown')) {
            missing.push(`${criterion.id}: unknown`);
          }
          continue;
        }
        // Every computed criterion is shown met and, unless it can only be met or unknown, not met.
        for (const s of ['met']) {
          if (!statuses.has(s)) {
            missing.push(`${criterion.id}: ${s}`);
          }
        }
        if (!statuses.has('not-met') && !statuses.has('unknown')) {
          missing.push(`${criterion.id}: not-met or unknown`);
        }
      }
      expect(missing).toEqual([]);
    });
  });
}
