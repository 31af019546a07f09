// deploy/kubernetes (issue 11, deliverable 4): every manifest of the kustomize base, and the overlay that
// `npm run k8s:policies` generates, validated against the Kubernetes API schemas (kubernetes-models 5, in a child
// process: it is an ES module only); the objects agree with each other (selectors, names, ports, Secret keys); the
// probes answer on the real application; the pod is non-root with a read-only root filesystem and writes only to
// its emptyDirs; every variable it sets is a documented one, and the production configuration it makes loads. No
// cluster, kubectl or kustomize here: see the README, "Running on many machines".
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import YAML from 'yaml';
import { loadConfig } from '../src/config';
import { buildPolicyOverlay, writePolicyOverlay, POLICIES_MOUNT } from '../src/dev/k8s-policies';
import { loadServices } from '../src/policy/load';
import { buildServiceApp, type ServiceApp } from './helpers/service-app';

const ROOT = path.resolve(__dirname, '..');
const BASE = path.join(ROOT, 'deploy', 'kubernetes', 'base');
const VALIDATOR = path.join(__dirname, 'helpers', 'kubernetes-validate.mjs');

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are read as untyped YAML */
type K8s = Record<string, any>;

function readDocs(file: string): K8s[] {
  return YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => {
    expect({ file, errors: d.errors.map((e) => e.message) }).toEqual({ file, errors: [] });
    return d.toJSON() as K8s;
  });
}

function validate(objects: K8s[]): Array<{ kind: string; name: string; error?: string }> {
  const out = execFileSync(process.execPath, [VALIDATOR], { cwd: ROOT, input: JSON.stringify(objects) });
  return JSON.parse(out.toString('utf8')) as Array<{ kind: string; name: string; error?: string }>;
}

const kustomization = readDocs(path.join(BASE, 'kustomization.yaml'))[0] as K8s;
const manifests = (kustomization['resources'] as string[]).flatMap((f) => readDocs(path.join(BASE, f)));
const byKind = (kind: string): K8s => {
  const found = manifests.filter((m) => m['kind'] === kind);
  expect({ kind, count: found.length }).toEqual({ kind, count: 1 });
  return found[0] as K8s;
};
const deployment = byKind('Deployment');
const pod = deployment['spec']['template'] as K8s;
const container = pod['spec']['containers'][0] as K8s;
const env = new Map<string, K8s>((container['env'] as K8s[]).map((e) => [e['name'] as string, e]));

/** A strategic merge of the generated patch onto the Deployment, for the shapes the patch uses (lists by name). */
function mergeByName(base: K8s[] = [], patch: K8s[] = []): K8s[] {
  const out = base.map((b) => ({ ...b }));
  for (const p of patch) {
    const i = out.findIndex((b) => b['name'] === p['name']);
    if (i < 0) {
      out.push(p);
    } else {
      out[i] = merge(out[i] as K8s, p);
    }
  }
  return out;
}

function merge(base: K8s, patch: K8s): K8s {
  const out: K8s = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    const b = out[k];
    if (Array.isArray(v) && Array.isArray(b) && v.every((x) => typeof x === 'object' && x !== null && 'name' in x)) {
      out[k] = mergeByName(b as K8s[], v as K8s[]);
    } else if (typeof v === 'object' && v !== null && !Array.isArray(v) && typeof b === 'object' && b !== null) {
      out[k] = merge(b as K8s, v as K8s);
    } else {
      out[k] = v;
    }
  }
  return out;
}

describe('deploy/kubernetes/base', () => {
  it('lists every manifest of the folder in its kustomization, and nothing that is not there', () => {
    expect(kustomization).toMatchObject({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization' });
    const files = fs
      .readdirSync(BASE)
      .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
      .sort();
    expect([...(kustomization['resources'] as string[])].sort()).toEqual(files);
    expect(manifests.map((m) => m['kind'] as string).sort()).toEqual([
      'Deployment',
      'HorizontalPodAutoscaler',
      'PodDisruptionBudget',
      'Secret',
      'Service',
    ]);
    // The image the kustomization retags is the one the Deployment runs.
    expect((kustomization['images'] as K8s[]).map((i) => i['name'] as string)).toEqual([container['image']]);
  });

  it('validates every manifest against the Kubernetes API schemas', () => {
    expect(validate(manifests)).toEqual(manifests.map((m) => ({ kind: m['kind'], name: m['metadata']['name'] })));
  });

  it('the validator does refuse an invalid object (so the check above means something)', () => {
    const broken = structuredClone(deployment);
    broken['spec']['template']['spec']['containers'][0]['ports'][0]['containerPort'] = 'http';
    delete broken['spec']['selector'];
    const [result] = validate([broken, { apiVersion: 'v9', kind: 'Nothing', metadata: { name: 'x' } }]);
    expect(result?.error).toMatch(/selector|containerPort/);
    expect(validate([{ apiVersion: 'v9', kind: 'Nothing', metadata: { name: 'x' } }])[0]?.error).toMatch(
      /no Kubernetes model/
    );
  });

  it('ties the objects together: selectors, the scaled Deployment, ports, the Secret and its keys', () => {
    const labels = pod['metadata']['labels'] as Record<string, string>;
    const selects = (selector: Record<string, string>): boolean =>
      Object.entries(selector).every(([k, v]) => labels[k] === v) && Object.keys(selector).length > 0;
    expect(selects(deployment['spec']['selector']['matchLabels'])).toBe(true);
    expect(selects(byKind('Service')['spec']['selector'])).toBe(true);
    expect(selects(byKind('PodDisruptionBudget')['spec']['selector']['matchLabels'])).toBe(true);
    expect(byKind('HorizontalPodAutoscaler')['spec']['scaleTargetRef']).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment['metadata']['name'],
    });
    const ports = container['ports'] as K8s[];
    expect(byKind('Service')['spec']['ports'].map((p: K8s) => p['targetPort'] as string)).toEqual(['http']);
    expect(ports.find((p) => p['name'] === 'http')?.['containerPort']).toBe(Number(env.get('PORT')?.['value']));
    expect(pod['metadata']['annotations']['prometheus.io/port']).toBe(env.get('PORT')?.['value']);
    expect(pod['metadata']['annotations']['prometheus.io/path']).toBe('/metrics');
    // Secrets: the database URL and the issuers file, from the one Secret, by keys it has.
    const secret = byKind('Secret');
    const keys = Object.keys(secret['stringData'] as object);
    expect(env.get('CDS_DATABASE_URL')?.['valueFrom']).toEqual({
      secretKeyRef: { name: secret['metadata']['name'], key: 'database-url' },
    });
    const secretVolume = (pod['spec']['volumes'] as K8s[]).find((v) => v['secret']);
    expect(secretVolume?.['secret']['secretName']).toBe(secret['metadata']['name']);
    for (const item of secretVolume?.['secret']['items'] as K8s[]) {
      expect(keys).toContain(item['key']);
    }
    const mount = (container['volumeMounts'] as K8s[]).find((m) => m['name'] === secretVolume?.['name']);
    expect(mount?.['readOnly']).toBe(true);
    expect(env.get('CDS_TRUSTED_ISSUERS')?.['value']).toBe(`${mount?.['mountPath']}/trusted-issuers.json`);
    expect(secret['stringData']['trusted-issuers.json']).toBe('[]');
  });

  it('runs non-root, without privileges, on a read-only root filesystem, writing only to its emptyDirs', () => {
    expect(pod['spec']['automountServiceAccountToken']).toBe(false);
    expect(pod['spec']['securityContext']).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(container['securityContext']).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    });
    const emptyDirs = new Set(
      (pod['spec']['volumes'] as K8s[]).filter((v) => v['emptyDir']).map((v) => v['name'] as string)
    );
    const writable = (container['volumeMounts'] as K8s[])
      .filter((m) => !m['readOnly'])
      .map((m) => ({
        name: m['name'] as string,
        emptyDir: emptyDirs.has(m['name'] as string),
        path: m['mountPath'] as string,
      }));
    expect(writable.every((w) => w.emptyDir)).toBe(true);
    expect(writable.map((w) => w.path).sort()).toEqual([env.get('CDS_DATA_DIR')?.['value'], '/tmp'].sort());
    expect(container['resources']['requests']).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container['resources']['limits']['memory']).toEqual(expect.any(String));
  });

  it('sets only documented variables, and they make a production configuration that loads', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const name of env.keys()) {
      expect({ name, documented: readme.includes(`| \`${name}\``) }).toEqual({ name, documented: true });
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-k8s-'));
    try {
      const issuers = path.join(dir, 'trusted-issuers.json');
      fs.writeFileSync(
        issuers,
        JSON.stringify([{ iss: 'https://ehr.example.org', jwks_uri: 'https://ehr.example.org/jwks' }])
      );
      const literal = Object.fromEntries(
        [...env.values()].filter((e) => typeof e['value'] === 'string').map((e) => [e['name'], e['value'] as string])
      );
      const config = loadConfig({
        ...literal,
        CDS_TRUSTED_ISSUERS: issuers,
        CDS_SERVICES_DIR: path.join(ROOT, 'cds-services'),
        CDS_DATA_DIR: dir,
      });
      expect(config).toMatchObject({ production: true, workers: 1, port: 3000, metrics: true });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('the probes answer on the real application', () => {
    let h: ServiceApp;

    beforeAll(async () => {
      h = await buildServiceApp();
    });

    afterAll(async () => {
      await h?.close();
    });

    it.each(['startupProbe', 'readinessProbe', 'livenessProbe'])('%s', async (probe) => {
      const check = container[probe] as K8s;
      expect(check['httpGet']['port']).toBe('http');
      const res = await request(h.app).get(check['httpGet']['path'] as string);
      expect({ path: check['httpGet']['path'], status: res.status }).toEqual({
        path: check['httpGet']['path'],
        status: 200,
      });
    });

    it('readiness is /ready and liveness /health (contract section 8)', () => {
      expect(container['readinessProbe']['httpGet']['path']).toBe('/ready');
      expect(container['livenessProbe']['httpGet']['path']).toBe('/health');
    });
  });
});

describe('npm run k8s:policies', () => {
  let out: string;

  beforeAll(() => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-k8s-policies-'));
  });

  afterAll(() => {
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('writes an overlay whose ConfigMap and patched Deployment validate, pointing back at the base', () => {
    const overlay = writePolicyOverlay(path.join(ROOT, 'cds-services'), out);
    expect(fs.readdirSync(out).sort()).toEqual(['configmap.yaml', 'deployment-patch.yaml', 'kustomization.yaml']);
    const k = readDocs(path.join(out, 'kustomization.yaml'))[0] as K8s;
    const [base, ...own] = k['resources'] as string[];
    expect(fs.realpathSync(path.resolve(out, base as string))).toBe(fs.realpathSync(BASE));
    expect(own).toEqual(['configmap.yaml']);
    expect(k['patches']).toEqual([{ path: 'deployment-patch.yaml' }]);
    const configMap = readDocs(path.join(out, 'configmap.yaml'))[0] as K8s;
    const patch = readDocs(path.join(out, 'deployment-patch.yaml'))[0] as K8s;
    expect(patch['metadata']['name']).toBe(deployment['metadata']['name']);
    const patched = merge(deployment, patch);
    expect(validate([configMap, patched])).toEqual([
      { kind: 'ConfigMap', name: configMap['metadata']['name'] },
      { kind: 'Deployment', name: deployment['metadata']['name'] },
    ]);
    const c = patched['spec']['template']['spec']['containers'][0] as K8s;
    // The base's container and variables are kept; the policies directory now is the mount.
    expect(c['image']).toBe(container['image']);
    expect(c['env']).toHaveLength(env.size);
    expect((c['env'] as K8s[]).find((e) => e['name'] === 'CDS_SERVICES_DIR')?.['value']).toBe(POLICIES_MOUNT);
    expect(c['volumeMounts']).toContainEqual({ name: 'policies', mountPath: POLICIES_MOUNT, readOnly: true });
    expect(patched['spec']['template']['metadata']['annotations']['cds-hooks/policies-sha256']).toBe(overlay.sha256);
  });

  it('carries every file of the policy folders, so the mounted folder loads the same services', () => {
    const overlay = buildPolicyOverlay(path.join(ROOT, 'cds-services'), out);
    const configMap = YAML.parse(overlay.files['configmap.yaml'] as string) as K8s;
    const patch = YAML.parse(overlay.files['deployment-patch.yaml'] as string) as K8s;
    const items = patch['spec']['template']['spec']['volumes'][0]['configMap']['items'] as K8s[];
    // What the kubelet would write: each key's content at its item path.
    const mounted = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-k8s-mounted-'));
    try {
      for (const item of items) {
        const file = path.join(mounted, item['path'] as string);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, configMap['data'][item['key']] as string);
      }
      const walk = (dir: string, prefix = ''): string[] =>
        fs
          .readdirSync(dir, { withFileTypes: true })
          .flatMap((e) =>
            e.isDirectory() ? walk(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]
          )
          .sort();
      const source = path.join(ROOT, 'cds-services');
      expect(walk(mounted)).toEqual(walk(source));
      for (const rel of walk(source)) {
        expect({
          rel,
          same: fs.readFileSync(path.join(mounted, rel)).equals(fs.readFileSync(path.join(source, rel))),
        }).toEqual({
          rel,
          same: true,
        });
      }
      expect(loadServices(mounted).map((s) => s.id)).toEqual(loadServices(source).map((s) => s.id));
    } finally {
      fs.rmSync(mounted, { recursive: true, force: true });
    }
  });

  it('refuses two files that would share one ConfigMap key, and a name a key cannot hold', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-k8s-keys-'));
    try {
      fs.mkdirSync(path.join(dir, 'a_'));
      fs.mkdirSync(path.join(dir, 'a'));
      fs.writeFileSync(path.join(dir, 'a_', 'b'), 'one');
      fs.writeFileSync(path.join(dir, 'a', '_b'), 'two');
      expect(() => buildPolicyOverlay(dir, out)).toThrow(/would share the ConfigMap key a___b/);
      fs.rmSync(path.join(dir, 'a'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'a b.yaml'), 'x');
      expect(() => buildPolicyOverlay(dir, out)).toThrow(/a b\.yaml: a file or folder name must match/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a folder whose policy does not load, writing nothing', () => {
    const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-k8s-bad-'));
    const target = path.join(out, 'refused');
    try {
      fs.cpSync(path.join(ROOT, 'cds-services'), bad, { recursive: true });
      const policy = path.join(bad, 'blinatumomab-mmm', 'policy.yaml');
      fs.writeFileSync(policy, fs.readFileSync(policy, 'utf8').replace(/^id: .*$/m, 'id: not-the-folder-name'));
      expect(() => writePolicyOverlay(bad, target)).toThrow(/blinatumomab-mmm/);
      expect(fs.existsSync(target)).toBe(false);
    } finally {
      fs.rmSync(bad, { recursive: true, force: true });
    }
  });
});
