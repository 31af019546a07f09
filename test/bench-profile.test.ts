// `npm run bench:profile` (src/dev/bench-profile.ts): the per-stage breakdown of cold calls through the real app and
// the echo, in one process. Checks the measurement's shape and its bookkeeping, never a timing.
import { profileColdCalls } from '../src/dev/bench-profile';

it('profiles cold calls: every measured call logged, every stage reported', async () => {
  const p = await profileColdCalls({ calls: 20, warmup: 4 });
  expect(p.calls).toBe(20);
  expect(p.logged).toBe(20);
  expect(p.bodyBytes).toBeGreaterThan(10000);
  const names = p.rows.map(([name]) => name.trim());
  for (const stage of ['validate', 'governance', 'evaluate', 'respond']) {
    expect(names).toContain(stage);
  }
  expect(names.some((n) => n.startsWith('serialisation'))).toBe(true);
  expect(names.some((n) => n.startsWith('logging'))).toBe(true);
  expect(names.some((n) => n.startsWith('of which JSON parse'))).toBe(true);
  const evaluate = p.rows.find(([name]) => name.trim() === 'evaluate')?.[1] ?? 0;
  expect(evaluate).toBeGreaterThan(0);
  expect(p.serviceCpu).toBeGreaterThan(0);
  expect(p.echoCpu).toBeGreaterThan(0);
}, 60000);
