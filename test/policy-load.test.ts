// The policy loader (house style 3.4): what it builds from cds-services/, what it refuses (with the file, the rule and
// the expression in the message), and that a payer policy is data only: a copied folder under a new id answers like
// the original, and a third policy is one new folder.
import { dosingRules } from './helpers/dosing-rules';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { CRD_CONFIGURATION_OPTIONS } from '../src/hooks/crd-configuration';
import { buildCaseInput, readCaseFile } from '../src/policy/cases';
import { evaluateOrders } from '../src/policy/evaluate';
import { loadService, loadServices, standalonePolicy } from '../src/policy/load';
import type { LoadedService } from '../src/policy/types';

const servicesDir = path.resolve(__dirname, '..', 'cds-services');
const MMM = path.join(servicesDir, 'blinatumomab-mmm');
/** The shared library the policies import (cds-services/_blinatumomab-label). */
const LIBRARY = '_blinatumomab-label';

const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) {
    fs.rmSync(d, { recursive: true, force: true });
  }
});

function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'policy-load-'));
  tmpDirs.push(d);
  return d;
}

// Policy and case files are edited as free YAML trees here, key by key.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Policy = Record<string, any>;

/**
 * Copies the MMM folder under `id` into a fresh services directory, letting a test change the policy or cases. The
 * policy is written self-contained (its imports merged in: standalonePolicy), so that a test changes any key.
 */
function variant(
  change: (policy: Policy) => void = () => undefined,
  options: { id?: string; folder?: string; cases?: (cases: Policy) => void; noCases?: boolean } = {}
): { dir: string; folder: string } {
  const dir = tmpDir();
  const id = options.id ?? 'blinatumomab-mmm';
  const folder = path.join(dir, options.folder ?? id);
  fs.mkdirSync(folder);
  const policy = standalonePolicy(MMM) as Policy;
  policy.id = id;
  change(policy);
  fs.writeFileSync(path.join(folder, 'policy.yaml'), stringify(policy, { lineWidth: 0 }));
  if (!options.noCases) {
    const cases = parse(fs.readFileSync(path.join(MMM, 'cases.yaml'), 'utf8')) as Policy;
    options.cases?.(cases);
    fs.writeFileSync(path.join(folder, 'cases.yaml'), stringify(cases, { lineWidth: 0 }));
  }
  return { dir, folder };
}

function criterion(policy: Policy, id: string): Policy {
  return (policy.criteria as Policy[]).find((c) => c.id === id) as Policy;
}

function loadError(dir: string): string {
  try {
    loadServices(dir);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('the loader accepted it');
}

describe('loading cds-services', () => {
  const services = loadServices(servicesDir);
  const byId = new Map(services.map((s) => [s.id, s]));

  test('loads every policy folder as a service, in name order, the two payer policies among them', () => {
    const folders = fs
      .readdirSync(servicesDir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && fs.existsSync(path.join(servicesDir, e.name, 'policy.yaml')))
      .map((e) => e.name)
      .sort();
    expect(services.map((s) => s.id)).toEqual(folders);
    expect(services.map((s) => path.basename(s.dir))).toEqual(folders);
    expect(folders).toEqual(expect.arrayContaining(['blinatumomab-mmm', 'blinatumomab-single-agent']));
  });

  test('discovery shows only the discovery keys, with the CRD configuration options', () => {
    for (const s of services) {
      expect(Object.keys(s.definition).sort()).toEqual(
        ['description', 'extension', 'hook', 'id', 'prefetch', 'title', 'usageRequirements'].sort()
      );
      expect(s.definition.hook).toBe('order-sign');
      expect(s.definition.extension).toEqual({ 'davinci-crd.configuration-options': CRD_CONFIGURATION_OPTIONS });
      // Contract section 1: the payor Organization comes with the Coverage, for the routed services.
      expect(s.definition.prefetch.coverage).toBe(
        'Coverage?patient={{context.patientId}}&status=active&_include=Coverage:payor'
      );
      expect(s.definition.usageRequirements).toMatch(/routed services/);
      expect(s.definition.usageRequirements).toMatch(/"cards": \[\]/);
    }
  });

  test('each policy declares only the prefetch keys it reads, with the agreed templates', () => {
    const mmm = byId.get('blinatumomab-mmm') as LoadedService;
    const single = byId.get('blinatumomab-single-agent') as LoadedService;
    expect(Object.keys(mmm.definition.prefetch).sort()).toEqual(
      ['carePlans', 'conditions', 'coverage', 'medicationRequests', 'observations', 'patient'].sort()
    );
    expect(Object.keys(single.definition.prefetch).sort()).toEqual(
      ['conditions', 'coverage', 'immunizations', 'medicationRequests', 'observations', 'patient'].sort()
    );
    expect(mmm.definition.prefetch.medicationRequests).toBe(
      'MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication'
    );
    expect(mmm.definition.prefetch.carePlans).toBe('CarePlan?patient={{context.patientId}}&status=active');
    // Policy 000 accepts any MRD method and never reads Ph; policy 001 reads Ph and only flow or PCR.
    expect(mmm.definition.prefetch.observations).toContain('local-lab|MRD-NGS');
    expect(mmm.definition.prefetch.observations).not.toContain('21822-2');
    expect(single.definition.prefetch.observations).toContain('http://loinc.org|21822-2');
    expect(single.definition.prefetch.observations).not.toContain('MRD-NGS');
  });

  test('each policy declares its payers (contract section 1, fixture payers)', () => {
    expect(byId.get('blinatumomab-mmm')?.payers).toEqual([
      { system: 'http://example.org/fhir/sid/payer-id', value: 'mmm-healthcare', name: 'MMM Healthcare' },
    ]);
    expect(byId.get('blinatumomab-single-agent')?.payers.map((p) => `${p.system}|${p.value}`)).toEqual([
      'http://example.org/fhir/sid/payer-id|single-agent-plan',
    ]);
  });

  test('labels, versions and sources follow contract section 1', () => {
    const mmm = byId.get('blinatumomab-mmm') as LoadedService;
    const single = byId.get('blinatumomab-single-agent') as LoadedService;
    expect([mmm.label, mmm.policyId, mmm.version, mmm.effectiveDate]).toEqual([
      'MMM Healthcare',
      'MP-RX-FP-14-23',
      '2024-05-09',
      undefined,
    ]);
    expect([single.label, single.policyId, single.version, single.effectiveDate]).toEqual([
      'Blinatumomab single-agent policy',
      undefined,
      '2021-03',
      undefined,
    ]);
    expect(mmm.sourceDocument).toContain('000_87c451977d53c8c4.txt');
    expect(single.sourceDocument).toContain('001_d76ebe1c2577d5c0.txt');
  });

  test('drug codes cover every RxNorm code and every written NDC form; J9039 is the billing code', () => {
    for (const s of services) {
      const codes = s.drug.listed.map((c) => `${c.system ?? ''}|${c.code}`);
      for (const ndc of [
        '55513-0160-01',
        '55513-0160-21',
        '55513016001',
        '55513-160-01',
        '55513016021',
        '55513-160-21',
      ]) {
        expect(codes).toContain(`http://hl7.org/fhir/sid/ndc|${ndc}`);
      }
      expect(codes).toContain('http://www.nlm.nih.gov/research/umls/rxnorm|1597262');
      expect(codes.filter((c) => c.startsWith('http://www.nlm.nih.gov/research/umls/rxnorm|'))).toHaveLength(10);
      expect(s.billingCode).toMatchObject({
        system: 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
        code: 'J9039',
      });
    }
  });

  test('dosing rules follow contract section 7', () => {
    for (const s of services) {
      const d = s.dosing;
      // The dosing vectors (test/dosing-vectors.ts) run against exactly the tables the policies declare (the label's,
      // from the shared library): each policy holds the schedules its pathways use, no other.
      const used = [...new Set(s.outline.pathways.map((x) => x.schedule))].sort();
      expect(Object.keys(d.schedules).sort()).toEqual(used);
      expect(d).toEqual({
        ...dosingRules,
        schedules: Object.fromEntries(used.map((id) => [id, dosingRules.schedules[id]])),
      });
      expect(d.weightThresholdKg).toBe(45);
      expect(d.weightMaxAgeDays).toEqual({ adult: 30, child: 7 });
      expect(d.bsaMaxAgeDays).toBe(30);
      expect(d.bsaPlausibility).toEqual({ maxRelativeDifference: 0.2, minM2: 0.1, maxM2: 3 });
      expect(d.doseTolerance).toBe(0.1);
      expect(d.limits).toEqual({ vialsPerCycle: 28, vialStrengthMcg: 35, unitsPerCycle: 980 });
      expect(used).toEqual(expect.arrayContaining(['mrd', 'relapsed-refractory']));
      const rr = d.schedules['relapsed-refractory']!;
      expect(rr.id).toBe('relapsed-refractory');
      expect(rr.cycles[0]).toEqual({
        from: 1,
        to: 1,
        lengthDays: 42,
        bands: [
          { days: [1, 7], fixedMcgPerDay: 9, mcgPerM2PerDay: 5, capMcgPerDay: 9 },
          { days: [8, 28], fixedMcgPerDay: 28, mcgPerM2PerDay: 15, capMcgPerDay: 28 },
        ],
      });
      expect(rr.cycles.map((c) => [c.from, c.to, c.lengthDays])).toEqual([
        [1, 1, 42],
        [2, 5, 42],
        [6, undefined, 84],
      ]);
      for (const id of used.filter((x) => x === 'mrd' || x === 'consolidation')) {
        expect(d.schedules[id]!.cycles).toEqual([
          {
            from: 1,
            lengthDays: 42,
            bands: [{ days: [1, 28], fixedMcgPerDay: 28, mcgPerM2PerDay: 15, capMcgPerDay: 28 }],
          },
        ]);
      }
      expect(d.unitSynonyms).toEqual({
        mcg: 'ug',
        µg: 'ug',
        μg: 'ug',
        day: 'd',
        days: 'd',
        vial: '{vial}',
        vials: '{vial}',
        'm²': 'm2',
      });
    }
  });

  test('documentation requests: one per criterion and item, unique ids, kinds as declared', () => {
    const mmm = byId.get('blinatumomab-mmm') as LoadedService;
    const ids = mmm.documentation.map((d) => d.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(mmm.documentation.find((d) => d.id === 'supporting-documentation')?.kind).toBe('submit-with-request');
    expect(mmm.documentation.find((d) => d.id === 'first-or-second-remission')?.kind).toBe('unknown-criterion');
    const single = byId.get('blinatumomab-single-agent') as LoadedService;
    expect(single.documentation.find((d) => d.id === 'no-live-vaccine-during-therapy')?.kind).toBe('attestation');
  });

  test('loaded services are frozen', () => {
    for (const s of services) {
      expect(Object.isFrozen(s)).toBe(true);
      expect(Object.isFrozen(s.definition)).toBe(true);
      expect(Object.isFrozen(s.definition.prefetch)).toBe(true);
      expect(Object.isFrozen(s.dosing.schedules)).toBe(true);
      expect(() => {
        (s.definition as { title: string }).title = 'changed';
      }).toThrow();
    }
  });

  test('hidden folders and plain files beside the service folders are skipped', () => {
    const { dir } = variant();
    fs.mkdirSync(path.join(dir, '.git'));
    fs.writeFileSync(path.join(dir, 'README.md'), '# services\n');
    expect(loadServices(dir).map((s) => s.id)).toEqual(['blinatumomab-mmm']);
  });
});

describe('the loader refuses, naming the file, the rule and the expression', () => {
  test('a schema violation', () => {
    const { dir, folder } = variant((p) => {
      delete criterion(p, 'cd19-positive').clause;
    });
    const message = loadError(dir);
    expect(message).toContain(path.join(folder, 'policy.yaml'));
    expect(message).toContain('criterion cd19-positive');
    expect(message).toContain("must have required property 'clause'");
  });

  test('a code written as a number (unquoted in YAML)', () => {
    const { dir } = variant((p) => {
      p.codes.cd19Positive[0].codes = [10828004];
    });
    expect(loadError(dir)).toMatch(/\/codes\/cd19Positive\/0\/codes\/0 must be string/);
  });

  test('an unknown key', () => {
    const { dir } = variant((p) => {
      p.criteria[0].severity = 'high';
    });
    expect(loadError(dir)).toMatch(/criterion covered-diagnosis.*must NOT have additional properties \(severity\)/);
  });

  test('a criterion or item without a short name, or with one over 60 characters', () => {
    const missing = variant((p) => {
      delete criterion(p, 'cd19-positive').short;
    });
    expect(loadError(missing.dir)).toMatch(/criterion cd19-positive.*must have required property 'short'/);
    const long = variant((p) => {
      criterion(p, 'cd19-positive').short = 'CD19 expression on the leukemic blasts by flow cytometry or IHC';
    });
    expect(loadError(long.dir)).toMatch(/criterion cd19-positive.*must NOT have more than 60 characters/);
    const item = variant((p) => {
      delete (p.documentation as Policy[])[0]?.short;
    });
    expect(loadError(item.dir)).toMatch(/item supporting-documentation.*must have required property 'short'/);
  });

  test('every criterion and documentation item carries its short name', () => {
    for (const service of loadServices(servicesDir)) {
      for (const entry of service.documentation) {
        expect(entry.short.length).toBeGreaterThan(0);
        expect(entry.short.length).toBeLessThanOrEqual(60);
      }
    }
  });

  test('a policy that does not declare whether its label names the payer, or declares it other than true or false', () => {
    const missing = variant((p) => {
      delete (p.policy as Policy).labelNamesPayer;
    });
    expect(loadError(missing.dir)).toMatch(/\/policy must have required property 'labelNamesPayer'/);
    const wrong = variant((p) => {
      (p.policy as Policy).labelNamesPayer = 'yes';
    });
    expect(loadError(wrong.dir)).toMatch(/\/policy\/labelNamesPayer must be boolean/);
  });

  test('each policy declares whether its label names the payer; the loaded outline lists its declarations', () => {
    const byId = new Map(loadServices(servicesDir).map((s) => [s.id, s]));
    expect(byId.get('blinatumomab-mmm')?.labelNamesPayer).toBe(true);
    expect(byId.get('blinatumomab-single-agent')?.labelNamesPayer).toBe(false);
    const outline = byId.get('blinatumomab-mmm')!.outline;
    expect(outline.pathways.map((p) => p.id)).toContain('single-agent-mrd-positive');
    expect(outline.pathways.find((p) => p.id === 'single-agent-mrd-positive')).toMatchObject({
      indication: 'mrd-at-least-0-1-percent',
      schedule: 'mrd',
      maxCycles: 4,
    });
    expect(outline.exclusions.map((x) => x.clause)).toEqual(['000 D.i', '000 D.ii']);
    expect(outline.continuation).toEqual({
      fromCycle: 2,
      criteria: ['no-unacceptable-toxicity', 'no-disease-progression'],
    });
  });

  test('a criterion both always unknown and computed', () => {
    const { dir } = variant((p) => {
      criterion(p, 'first-or-second-remission').status = 'true';
    });
    expect(loadError(dir)).toContain('criterion first-or-second-remission');
  });

  test('a narrower documentation request on an always-unknown criterion, or reading an undeclared variable', () => {
    const always = variant((p) => {
      criterion(p, 'first-or-second-remission').documentationWhen = [{ when: 'true', documentation: 'x' }];
    });
    expect(loadError(always.dir)).toContain('criterion first-or-second-remission');
    const undeclared = variant((p) => {
      criterion(p, 'cd19-positive').documentationWhen = [{ when: '%nothing.exists()', documentation: 'x' }];
    });
    expect(loadError(undeclared.dir)).toMatch(
      /criterion cd19-positive \(documentationWhen\[0\]\) "%nothing.exists\(\)": %nothing is not declared here/
    );
  });

  test("a narrower documentation request replaces the criterion's when its condition holds and it is unknown", () => {
    const { folder } = variant((p) => {
      criterion(p, 'cd19-positive').documentationWhen = [
        { when: '%evidence.exists()', documentation: 'A CD19 result on a second sample.' },
      ];
    });
    const service = loadService(folder);
    const cases = readCaseFile(path.join(folder, 'cases.yaml'));
    const request = (resources: unknown[]): string | undefined => {
      const call = buildCaseInput(service, cases, {
        name: 't',
        resources: resources as never,
        orders: ['blin-step-up'],
        expect: {},
      });
      const [d] = evaluateOrders(service, call).decisions;
      return d?.missingDocumentation.find((m) => m.criterion === 'cd19-positive')?.request;
    };
    // Same-date disagreement: the results are on file, so the narrower request applies.
    expect(
      request([
        'dx-relapse',
        'status-relapse',
        'cd19-pos',
        { use: 'cd19-neg', effectiveDateTime: '2024-05-20T15:00:00Z' },
      ])
    ).toBe('A CD19 result on a second sample.');
    // No result at all: the criterion's own request.
    expect(request(['dx-relapse', 'status-relapse'])).toMatch(/^A flow cytometry or immunohistochemistry report/);
  });

  test('a folder whose name differs from the id', () => {
    const { dir } = variant(() => undefined, { folder: 'blinatumomab-other' });
    expect(loadError(dir)).toMatch(
      /blinatumomab-other.*the id blinatumomab-mmm differs from the folder name blinatumomab-other/
    );
  });

  test('duplicate criterion ids', () => {
    const { dir } = variant((p) => {
      p.criteria.push({ ...criterion(p, 'cd19-positive') });
    });
    expect(loadError(dir)).toMatch(/criterion cd19-positive: duplicate id/);
  });

  test('a documentation item reusing a criterion id', () => {
    const { dir } = variant((p) => {
      p.documentation[0].id = 'single-agent';
    });
    expect(loadError(dir)).toMatch(/criterion single-agent: duplicate id/);
  });

  test('an expression that does not compile', () => {
    const { dir, folder } = variant((p) => {
      criterion(p, 'cd19-positive').status = "%evidence.select(value.coded('cd19Positive')).agree(";
    });
    const message = loadError(dir);
    expect(message).toContain(path.join(folder, 'policy.yaml'));
    expect(message).toContain('criterion cd19-positive (status)');
    expect(message).toContain(`"%evidence.select(value.coded('cd19Positive')).agree("`);
    expect(message).toContain('does not compile');
  });

  test('an undeclared %variable, even where a dry run would not reach it', () => {
    const { dir } = variant((p) => {
      criterion(p, 'single-agent').evidence = '%regimenDrugOrders.where(%today > authoredOn)';
    });
    expect(loadError(dir)).toMatch(
      /criterion single-agent \(evidence\) "%regimenDrugOrders.where\(%today > authoredOn\)": %today is not declared here/
    );
  });

  test('%evidence outside a status expression', () => {
    const { dir } = variant((p) => {
      criterion(p, 'single-agent').evidence = '%evidence';
    });
    expect(loadError(dir)).toMatch(/%evidence is not declared here/);
  });

  test('a fact that reads a fact declared after it', () => {
    const { dir } = variant((p) => {
      p.facts.diagnoses = '%coveredDiagnoses';
    });
    expect(loadError(dir)).toMatch(/fact diagnoses "%coveredDiagnoses": %coveredDiagnoses is not declared here/);
  });

  test('an unknown function, and a known one with the wrong number of parameters', () => {
    const a = variant((p) => {
      criterion(p, 'single-agent').status = '%evidence.isEmptyish()';
    });
    expect(loadError(a.dir)).toMatch(/criterion single-agent \(status\).*unknown function isEmptyish\(\)/);
    const b = variant((p) => {
      criterion(p, 'single-agent').status = '%evidence.latest(1)';
    });
    expect(loadError(b.dir)).toMatch(/latest\(\) takes 0 parameter\(s\), not 1/);
    const c = variant((p) => {
      criterion(p, 'single-agent').status = '%evidence.count(1).empty()';
    });
    expect(loadError(c.dir)).toMatch(/count\(\) takes no parameters/);
  });

  test('coded() naming a code set that does not exist, and quantityValue() with a bad unit', () => {
    const a = variant((p) => {
      criterion(p, 'with-tki').evidence = "%nonIntrathecalOrders.where(medication.coded('tkis'))";
    });
    expect(loadError(a.dir)).toMatch(/criterion with-tki \(evidence\).*coded\('tkis'\): no code set of that name/);
    const b = variant((p) => {
      criterion(p, 'mrd-at-least-0-1-percent').status =
        "%evidence.select(value.quantityValue('percent') >= 0.1).agree()";
    });
    expect(loadError(b.dir)).toMatch(/quantityValue\(\) takes a valid UCUM unit/);
  });

  test('a pathway naming an unknown criterion, schedule or indication', () => {
    const a = variant((p) => {
      p.pathways[0].criteria.push('no-such-criterion');
    });
    expect(loadError(a.dir)).toMatch(/pathway single-agent-relapsed-refractory: no criterion no-such-criterion/);
    const b = variant((p) => {
      p.pathways[0].schedule = 'weekly';
    });
    expect(loadError(b.dir)).toMatch(/no dosing schedule weekly/);
    const c = variant((p) => {
      p.pathways[0].indication = 'consolidation-phase';
    });
    expect(loadError(c.dir)).toMatch(/indication criterion consolidation-phase is not among its criteria/);
  });

  test('a criterion no pathway uses', () => {
    const { dir } = variant((p) => {
      p.pathways = (p.pathways as Policy[]).filter((x) => x.id !== 'interfant-infant-all');
    });
    expect(loadError(dir)).toMatch(/criterion interfant-regimen: no pathway, universal or continuation list uses it/);
  });

  test('a prefetch template with a non-standard token, or missing an Observation code the policy reads', () => {
    const a = variant((p) => {
      p.prefetch.medicationRequests = 'MedicationRequest?_id={{context.draftOrders.MedicationRequest.id}}';
    });
    expect(loadError(a.dir)).toMatch(
      /prefetch.medicationRequests: \{\{context.draftOrders.MedicationRequest.id\}\} is not a standard/
    );
    const b = variant((p) => {
      p.prefetch.observations = String(p.prefetch.observations).replace(',http://loinc.org|8277-6', '');
    });
    expect(loadError(b.dir)).toMatch(/does not ask for http:\/\/loinc.org\|8277-6 \(code set bodySurfaceArea\)/);
    const c = variant((p) => {
      delete p.prefetch.coverage;
    });
    expect(loadError(c.dir)).toMatch(/no template reads Coverage/);
  });

  test('a Coverage template without the payor Organization, which the routed services match on', () => {
    const a = variant((p) => {
      p.prefetch.coverage = 'Coverage?patient={{context.patientId}}&status=active';
    });
    expect(loadError(a.dir)).toMatch(
      /prefetch: "Coverage\?patient=\{\{context.patientId\}\}&status=active" must include the payor/
    );
  });

  test('no payer, a payer without a value, or the same payer twice', () => {
    expect(loadError(variant((p) => delete p.payers).dir)).toMatch(
      /policy.yaml: schema: \/ must have required property 'payers'/
    );
    expect(loadError(variant((p) => (p.payers = [])).dir)).toMatch(/\/payers must NOT have fewer than 1 items/);
    expect(loadError(variant((p) => (p.payers = [{ system: 'http://example.org/fhir/sid/payer-id' }])).dir)).toMatch(
      /\/payers\/0 must have required property 'value'/
    );
    const twice = variant((p) => (p.payers = [...(p.payers as Policy[]), ...(p.payers as Policy[])]));
    expect(loadError(twice.dir)).toMatch(
      /payers: http:\/\/example.org\/fhir\/sid\/payer-id\|mmm-healthcare is listed twice/
    );
  });

  test('two policies declaring one payer stop the load, naming both files', () => {
    const dir = tmpDir();
    fs.cpSync(path.join(servicesDir, LIBRARY), path.join(dir, LIBRARY), { recursive: true });
    for (const id of ['blinatumomab-mmm', 'blinatumomab-mmm-twin']) {
      const folder = path.join(dir, id);
      fs.cpSync(MMM, folder, { recursive: true });
      const file = path.join(folder, 'policy.yaml');
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('\nid: blinatumomab-mmm\n', `\nid: ${id}\n`));
    }
    expect(loadError(dir)).toBe(
      `${path.join(dir, 'blinatumomab-mmm-twin', 'policy.yaml')}: payers: http://example.org/fhir/sid/payer-id|mmm-healthcare ` +
        `is also declared by ${path.join(dir, 'blinatumomab-mmm', 'policy.yaml')}: a payer belongs to one policy`
    );
  });

  test('a missing cases.yaml', () => {
    const { dir, folder } = variant(() => undefined, { noCases: true });
    expect(loadError(dir)).toBe(
      `${path.join(folder, 'cases.yaml')}: cases: missing: every policy needs its cases beside it`
    );
  });

  test('a criterion no case mentions', () => {
    const { dir } = variant(() => undefined, {
      cases: (cases) => {
        for (const c of cases.cases as Policy[]) {
          for (const e of Array.isArray(c.expect) ? c.expect : [c.expect]) {
            if (e.criteria) {
              delete e.criteria['infant-at-diagnosis'];
            }
          }
        }
      },
    });
    expect(loadError(dir)).toMatch(/cases.yaml: criterion infant-at-diagnosis: no case mentions it/);
  });

  test('a policy file that is not YAML, and a missing services directory', () => {
    const { dir, folder } = variant();
    fs.writeFileSync(path.join(folder, 'policy.yaml'), 'id: [unclosed\n');
    expect(loadError(dir)).toContain(`${path.join(folder, 'policy.yaml')}: not valid YAML`);
    expect(loadError(path.join(dir, 'nope'))).toMatch(/the services directory cannot be read/);
  });
});

/** Every case of a service folder, decided. */
function decideAll(service: LoadedService): unknown[] {
  const cases = readCaseFile(path.join(service.dir, 'cases.yaml'));
  return cases.cases.map((c) => {
    const input = buildCaseInput(service, cases, c);
    return evaluateOrders(service, input).decisions.map((d) => ({
      likelihood: d.likelihood,
      pathway: d.pathway?.id,
      cycle: d.cycle,
      criteria: d.criteria.map((r) => [r.id, r.status, r.evidence]),
      missing: d.missingDocumentation,
      authorization: d.authorization,
      notCoveredBy: d.notCoveredBy,
    }));
  });
}

/** A copy of cds-services (the policies and the shared library) in a temporary folder. */
function servicesCopy(): string {
  const dir = tmpDir();
  fs.cpSync(servicesDir, dir, { recursive: true });
  return dir;
}

/** Changes a YAML file of a services copy as a tree. */
function editYaml(file: string, change: (tree: Policy) => void): void {
  const tree = parse(fs.readFileSync(file, 'utf8')) as Policy;
  change(tree);
  fs.writeFileSync(file, stringify(tree, { lineWidth: 0 }));
}

describe('shared declarations: libraries (contract section 1, "More policies")', () => {
  const services = loadServices(servicesDir);

  test('a folder starting with _ is a library the policies import, not a service', () => {
    expect(fs.existsSync(path.join(servicesDir, LIBRARY, 'library.yaml'))).toBe(true);
    expect(services.map((s) => s.id)).not.toContain(LIBRARY);
    for (const s of services) {
      const own = parse(fs.readFileSync(path.join(s.dir, 'policy.yaml'), 'utf8')) as Policy;
      expect(own.imports).toEqual([LIBRARY]);
      // What every policy shares is stated once, in the library: none of them declares the drug or the dosing block.
      expect(own.drug).toBeUndefined();
      expect(own.dosing).toBeUndefined();
      expect(own.doseObservations).toBeUndefined();
    }
  });

  test('a policy keeps only the imports it uses, and its own declarations override them', () => {
    const single = services.find((s) => s.id === 'blinatumomab-single-agent') as LoadedService;
    const mmm = services.find((s) => s.id === 'blinatumomab-mmm') as LoadedService;
    const policyOf = (x: LoadedService): { codeSets: Map<string, unknown>; collections: Array<{ name: string }> } =>
      x.policy as never;
    // The label's consolidation schedule is imported by every policy, kept only where a pathway uses it.
    expect(Object.keys(single.dosing.schedules).sort()).toEqual(['mrd', 'relapsed-refractory']);
    expect(Object.keys(mmm.dosing.schedules).sort()).toEqual(['consolidation', 'mrd', 'relapsed-refractory']);
    // MMM reads no Philadelphia chromosome result and no immunization: those imports are left out.
    expect(policyOf(mmm).codeSets.has('phTests')).toBe(false);
    expect(policyOf(mmm).collections.map((c) => c.name)).not.toContain('immunizations');
    // The single-agent policy's own covered diagnoses (lymphoblastic lymphoma too) override the library's.
    const covered = policyOf(single).codeSets.get('coveredDiagnosis') as { matches(s: string, c: string): boolean };
    expect(covered.matches('http://hl7.org/fhir/sid/icd-10-cm', 'C83.50')).toBe(true);
    const mmmCovered = policyOf(mmm).codeSets.get('coveredDiagnosis') as typeof covered;
    expect(mmmCovered.matches('http://hl7.org/fhir/sid/icd-10-cm', 'C83.50')).toBe(false);
    // A criterion listed by id is the library's, with the policy's clause and wording.
    const criterion = (x: LoadedService, id: string): Record<string, unknown> | undefined =>
      x.outline.criteria.find((c) => c.id === id);
    expect(criterion(mmm, 'cd19-positive')).toMatchObject({ clause: '000 A.i, A.iv, A.vii, A.x, A.xii' });
    expect(criterion(single, 'cd19-positive')).toMatchObject({ clause: '001 III (indication and label)' });
    expect(criterion(single, 'cd19-positive')?.description).toBe(criterion(mmm, 'cd19-positive')?.description);
    expect(criterion(single, 'in-complete-remission')?.description).toBe(
      'In complete response or remission after induction therapy'
    );
  });

  test.each<[string, (p: Policy) => void, string]>([
    ['a code set', (p) => (p.codes.unusedCodes = [{ system: 'sct', codes: ['1'] }]), 'codes.unusedCodes'],
    ['a fact', (p) => (p.facts.unusedFact = '%conditions'), 'facts.unusedFact'],
    [
      'a collection',
      (p) => (p.collections.unusedCollection = { resourceType: 'Condition' }),
      'collections.unusedCollection',
    ],
    [
      'a dosing schedule',
      (p) => (p.dosing.schedules['unused-schedule'] = structuredClone(p.dosing.schedules.mrd as Policy)),
      'dosing.schedules.unused-schedule',
    ],
    [
      'a prefetch key',
      (p) => (p.prefetch.immunizations = 'Immunization?patient={{context.patientId}}'),
      'prefetch.immunizations',
    ],
    ['a system alias', (p) => (p.systems.unusedSystem = 'http://example.org/unused'), 'systems.unusedSystem'],
  ])('%s a policy declares and nothing uses is refused, naming it', (_what, change, name) => {
    const { dir, folder } = variant(change);
    expect(loadError(dir)).toBe(`${path.join(folder, 'policy.yaml')}: ${name}: declared, but nothing uses it`);
  });

  test('an unused declaration of a policy that imports is refused too', () => {
    const dir = servicesCopy();
    const file = path.join(dir, 'blinatumomab-mmm', 'policy.yaml');
    editYaml(file, (p) => {
      p.facts.unusedFact = '%diagnoses';
    });
    expect(loadError(dir)).toBe(`${file}: facts.unusedFact: declared, but nothing uses it`);
  });

  test('a library declaration no importing policy uses is refused, naming the library file and the declaration', () => {
    const dir = servicesCopy();
    const file = path.join(dir, LIBRARY, 'library.yaml');
    editYaml(file, (lib) => {
      lib.codes.unusedShared = [{ system: 'sct', codes: ['1'] }];
      lib.facts.unusedSharedFact = '%conditions';
    });
    expect(loadError(dir)).toBe(
      `${file}: codes.unusedShared, facts.unusedSharedFact: declared, but no policy that imports ${LIBRARY} uses it`
    );
  });

  test('a library nobody imports is refused; a policy importing a missing library names it', () => {
    const unimported = variant();
    fs.cpSync(path.join(servicesDir, LIBRARY), path.join(unimported.dir, '_spare'), { recursive: true });
    expect(loadError(unimported.dir)).toMatch(
      /_spare\/library.yaml: systems.rxnorm, .*: declared, but no policy that imports _spare uses it \(no policy imports it\)$/
    );
    const missing = variant((p) => (p.imports = ['_nowhere']));
    expect(loadError(missing.dir)).toContain(
      `policy.yaml: imports[0]: no library _nowhere (expected ${path.join(missing.dir, '_nowhere', 'library.yaml')})`
    );
  });

  test('a library that breaks its schema is refused, naming its file', () => {
    const dir = servicesCopy();
    const file = path.join(dir, LIBRARY, 'library.yaml');
    editYaml(file, (lib) => {
      lib.pathways = [];
    });
    expect(loadError(dir)).toBe(`${file}: schema: / must NOT have additional properties (pathways)`);
  });

  test('standalonePolicy writes the same policy without its imports', () => {
    for (const s of services) {
      const dir = tmpDir();
      const folder = path.join(dir, s.id);
      fs.mkdirSync(folder);
      const standalone = standalonePolicy(s.dir);
      expect(standalone.imports).toBeUndefined();
      fs.writeFileSync(path.join(folder, 'policy.yaml'), stringify(standalone, { lineWidth: 0 }));
      fs.copyFileSync(path.join(s.dir, 'cases.yaml'), path.join(folder, 'cases.yaml'));
      const loaded = loadService(folder);
      expect(loaded.outline).toEqual(s.outline);
      expect(loaded.dosing).toEqual(s.dosing);
      expect(loaded.definition).toEqual(s.definition);
      expect(decideAll(loaded)).toEqual(decideAll(s));
    }
  });
});

describe('a payer policy is data only', () => {
  test('a copy of a folder under a new id loads and answers like the original', () => {
    const dir = tmpDir();
    // The policies import the shared library: it is copied beside them.
    fs.cpSync(path.join(servicesDir, LIBRARY), path.join(dir, LIBRARY), { recursive: true });
    for (const id of ['blinatumomab-mmm', 'blinatumomab-single-agent']) {
      const copy = path.join(dir, `${id}-copy`);
      fs.cpSync(path.join(servicesDir, id), copy, { recursive: true });
      const file = path.join(copy, 'policy.yaml');
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(`\nid: ${id}\n`, `\nid: ${id}-copy\n`));
      const original = loadService(path.join(servicesDir, id));
      const copied = loadService(copy);
      expect(copied.id).toBe(`${id}-copy`);
      expect(copied.definition.id).toBe(`${id}-copy`);
      expect(decideAll(copied)).toEqual(decideAll(original));
    }
    expect(loadServices(dir).map((s) => s.id)).toEqual(['blinatumomab-mmm-copy', 'blinatumomab-single-agent-copy']);
  });

  test('a third payer policy is one new folder that imports the shared library and states only its own', () => {
    const dir = tmpDir();
    fs.cpSync(servicesDir, dir, { recursive: true });
    const folder = path.join(dir, 'blinatumomab-adults-only');
    fs.mkdirSync(folder);
    const base = parse(
      fs.readFileSync(path.join(servicesDir, 'blinatumomab-single-agent', 'policy.yaml'), 'utf8')
    ) as Policy;
    const observations =
      'Observation?patient={{context.patientId}}&code=http://example.org/fhir/CodeSystem/local-lab|CD19-BLASTS,' +
      'http://loinc.org|97509-4,http://loinc.org|29463-7,http://loinc.org|8302-2,http://loinc.org|8277-6';
    const policy: Policy = {
      id: 'blinatumomab-adults-only',
      hook: 'order-sign',
      title: 'Blinatumomab coverage requirements, adults-only plan',
      description: base.description,
      usageRequirements: base.usageRequirements,
      prefetch: {
        patient: base.prefetch.patient,
        coverage: base.prefetch.coverage,
        medicationRequests: base.prefetch.medicationRequests,
        conditions: base.prefetch.conditions,
        observations,
      },
      policy: {
        label: 'Example Adults Plan',
        labelNamesPayer: true,
        identifier: 'EX-1',
        version: '1.0.0',
        source: 'A synthetic policy for tests',
      },
      payers: [{ system: 'http://example.org/fhir/sid/payer-id', value: 'adults-only-plan' }],
      imports: [LIBRARY],
      criteria: [
        {
          id: 'adult',
          short: 'age of at least 18',
          clause: 'EX 1',
          description: 'The patient is 18 or older at the planned start',
          documentation: 'The date of birth.',
          evidence: '%patient',
          status: '%patient.birthDate.ageInMonthsAt(%plannedStart) >= 216',
          notCoveredWhenNotMet: 'The plan covers adults only (EX 1).',
        },
        { id: 'covered-diagnosis', clause: 'EX 2' },
        { id: 'cd19-positive', clause: 'EX 2' },
        { id: 'relapsed-or-refractory', clause: 'EX 2' },
      ],
      universal: ['adult'],
      pathways: [
        {
          id: 'relapsed',
          title: 'EX 2, relapsed or refractory disease',
          clause: 'EX 2',
          criteria: ['covered-diagnosis', 'cd19-positive', 'relapsed-or-refractory'],
          indication: 'relapsed-or-refractory',
          schedule: 'relapsed-refractory',
          maxCycles: 2,
        },
      ],
      authorization: { initial: '12 weeks', continuation: '12 weeks' },
    };
    fs.writeFileSync(path.join(folder, 'policy.yaml'), stringify(policy, { lineWidth: 0 }));
    const singleCases = parse(
      fs.readFileSync(path.join(servicesDir, 'blinatumomab-single-agent', 'cases.yaml'), 'utf8')
    ) as Policy;
    const cases = {
      defaults: singleCases.defaults,
      resources: singleCases.resources,
      cases: [
        {
          name: 'adult relapsed',
          resources: ['dx-relapse', 'cd19-pos', 'status-relapse'],
          orders: ['blin-step-up'],
          expect: {
            likelihood: 'likely',
            criteria: {
              adult: 'met',
              'covered-diagnosis': 'met',
              'cd19-positive': 'met',
              'relapsed-or-refractory': 'met',
            },
          },
        },
        {
          name: 'a child is not covered',
          resources: [{ use: 'patient', birthDate: '2015-01-01' }, 'dx-relapse', 'cd19-pos', 'status-relapse'],
          orders: ['blin-step-up'],
          expect: { likelihood: 'not-covered', notCoveredBy: ['adult'], criteria: { adult: 'not-met' } },
        },
      ],
    };
    fs.writeFileSync(path.join(folder, 'cases.yaml'), stringify(cases, { lineWidth: 0 }));

    const service = loadServices(dir).find((x) => x.id === 'blinatumomab-adults-only');
    expect(service).toBeDefined();
    // What it imports and uses, no more: the label's relapsed schedule, the code sets its criteria read.
    expect(Object.keys(service!.dosing.schedules)).toEqual(['relapsed-refractory']);
    expect(service!.outline.criteria.find((c) => c.id === 'cd19-positive')?.clause).toBe('EX 2');
    const file = readCaseFile(path.join(folder, 'cases.yaml'));
    const [adult, child] = file.cases.map((c) => evaluateOrders(service!, buildCaseInput(service!, file, c)).decisions[0]);
    expect(adult!.likelihood).toBe('likely');
    expect(adult!.authorization).toEqual({ type: 'initial', cycle: 1, length: '12 weeks' });
    expect(child!.likelihood).toBe('not-covered');
    expect(child!.notCoveredReasons).toEqual(['The plan covers adults only (EX 1).']);
  });
});
