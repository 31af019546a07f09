// Validates Kubernetes objects against the API schemas with kubernetes-models (an ES module only, hence this small
// script, run by test/kubernetes.test.ts in a child process). Reads a JSON array of objects on stdin; writes a JSON
// array of { kind, name, error? } (error absent when the object is valid) on stdout.
import { readFileSync } from 'node:fs';

const objects = JSON.parse(readFileSync(0, 'utf8'));
const results = [];
for (const object of objects) {
  const { apiVersion, kind } = object ?? {};
  const name = object?.metadata?.name;
  const [group, version] = String(apiVersion).includes('/') ? String(apiVersion).split('/') : ['', apiVersion];
  const modulePath = group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
  let Model;
  try {
    Model = (await import(modulePath))[kind];
  } catch {
    results.push({ kind, name, error: `no Kubernetes model for ${apiVersion} ${kind}` });
    continue;
  }
  try {
    new Model(object).validate();
    results.push({ kind, name });
  } catch (e) {
    results.push({ kind, name, error: e instanceof Error ? e.message : String(e) });
  }
}
process.stdout.write(JSON.stringify(results));
