import {
  POLICY_PAGE_CSP,
  buildPolicyPage,
  clauseAnchor,
  clausesOf,
  decidingClause,
  escapeHtml,
  policyPageAnchors,
  policyPageUrl,
} from './policy-page';
import { makeDecision, makeOutline, makeService } from './test-support';

describe('clauses and their anchors', () => {
  test('a citation names each clause with its document number; notes in parentheses are not part of it', () => {
    expect(clausesOf('000 A.i, A.iv, A.vii')).toEqual(['000 A.i', '000 A.iv', '000 A.vii']);
    expect(clausesOf('001 III, Appendix 1')).toEqual(['001 III', '001 Appendix 1']);
    expect(clausesOf('001 III (Universal Criteria)')).toEqual(['001 III']);
    expect(clausesOf('000 B.i.A')).toEqual(['000 B.i.A']);
  });

  test('an anchor is the clause lower-cased with spaces as "-"', () => {
    expect(clauseAnchor('000 A.iii.B')).toBe('000-a.iii.b');
    expect(clauseAnchor('001 Appendix 1')).toBe('001-appendix-1');
    expect(policyPageUrl(makeService(), 'https://cds.example.org/', '000-a.iii.b')).toBe(
      'https://cds.example.org/policies/blinatumomab-mmm#000-a.iii.b'
    );
  });

  test("a card links to its pathway's indication clause, or to the deciding exclusion", () => {
    const outline = makeOutline();
    expect(decidingClause(outline, makeDecision('likely'))).toBe('000 A.iii.A');
    expect(decidingClause(outline, makeDecision('not-covered'))).toBe('000 D.i');
    const mrd = makeDecision('needs-documentation');
    mrd.pathway = { ...mrd.pathway!, id: 'a-i-ii-iii-b', indication: 'which-remission' };
    expect(decidingClause(outline, mrd)).toBe('000 A.iii.B');
    // An indication cited by several pathways: the clause this pathway cites (000 A.xii, not 000 A.i).
    const infant = makeDecision('likely');
    infant.pathway = { ...infant.pathway!, id: 'a-xii', indication: 'interfant-regimen' };
    expect(
      decidingClause(
        {
          ...outline,
          criteria: outline.criteria.map((c) =>
            c.id === 'interfant-regimen' ? { ...c, clause: '000 A.i, A.xii' } : c
          ),
        },
        infant
      )
    ).toBe('000 A.xii');
  });
});

describe('the page', () => {
  const page = buildPolicyPage(makeService());

  test('every pathway, criterion, exclusion, limit, length of authorization and documentation request', () => {
    expect(page).toContain('<h3>Relapsed or refractory B-ALL, single agent</h3>');
    expect(page).toContain('<strong>CD19 on the leukemic blasts</strong>');
    expect(page).toContain('Diffuse large B-cell lymphoma is excluded (000 D.i)');
    expect(page).toContain('at most 28 vials of 35 mcg, 980 billable units of HCPCS J9039, per cycle');
    expect(page).toContain('Every route: per cycle, initial and continuation.');
    expect(page).toContain('Chart notes supporting every criterion');
    for (const anchor of policyPageAnchors(makeService())) {
      expect(page).toContain(`id="${anchor}"`);
    }
    expect(policyPageAnchors(makeService())).toEqual(
      expect.arrayContaining(['000-a.i', '000-a.ii', '000-a.iii.a', '000-a.iii.b', '000-a.xii', '000-d.i', '000-a'])
    );
  });

  test('no script, and everything from the policy file escaped', () => {
    const outline = makeOutline();
    outline.criteria[0] = { ...outline.criteria[0]!, description: '<script>alert(1)</script> & "quoted"' };
    const hostile = buildPolicyPage(makeService({ outline, label: 'Payer <b>x</b>' }));
    expect(hostile).not.toMatch(/<script|<b>x/i);
    expect(hostile).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;');
    expect(escapeHtml(`<a href="x">'`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;');
  });

  test('its CSP lets nothing load or run but its own style block (by hash)', () => {
    expect(POLICY_PAGE_CSP).toMatch(
      /^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'$/
    );
    expect(POLICY_PAGE_CSP).not.toMatch(/script-src|unsafe/);
  });

  test('a policy that names no payer says so', () => {
    expect(buildPolicyPage(makeService({ labelNamesPayer: false, label: 'Some policy' }))).toContain(
      'The policy names no payer'
    );
  });
});
