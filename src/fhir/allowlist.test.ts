import { DEFAULT_FHIR_ALLOWLIST, isUsableUrl, parseAllowlist } from './allowlist';

describe('parseAllowlist', () => {
  it('defaults to loopback names on any port when the variable is missing or blank', () => {
    const expected = [
      { protocol: 'http:', hostname: 'localhost', path: '' },
      { protocol: 'http:', hostname: '127.0.0.1', path: '' },
      { protocol: 'http:', hostname: '[::1]', path: '' },
    ];
    expect(parseAllowlist()).toEqual(expected);
    expect(parseAllowlist('  ')).toEqual(expected);
    expect(parseAllowlist(DEFAULT_FHIR_ALLOWLIST)).toEqual(expected);
  });

  it('keeps a stated port (the default port too) and the path without its trailing slash', () => {
    expect(parseAllowlist(' https://ehr.example.org:8443/fhir/ , http://ehr.example.org:80/r4')).toEqual([
      { protocol: 'https:', hostname: 'ehr.example.org', port: '8443', path: '/fhir' },
      { protocol: 'http:', hostname: 'ehr.example.org', port: '80', path: '/r4' },
    ]);
  });

  it.each([
    ['ftp://ehr.example.org', /absolute http or https/],
    ['ehr.example.org/fhir', /absolute http or https/],
    ['http://user:pw@ehr.example.org', /userinfo/],
    ['http://@ehr.example.org', /userinfo/],
    ['http://ehr.example.org/fhir?x=1', /query or a fragment/],
    ['http://ehr.example.org/fhir#x', /query or a fragment/],
  ])('rejects the entry %s', (entry, message) => {
    expect(() => parseAllowlist(`http://localhost,${entry}`)).toThrow(message);
  });
});

describe('isUsableUrl (contract section 3)', () => {
  const defaults = parseAllowlist();
  const ehr = parseAllowlist('https://ehr.example.org/fhir,http://10.0.0.5:8080');

  it.each([
    ['http://localhost:8080/fhir', true],
    ['http://localhost/', true],
    ['http://127.0.0.1:3000/r4/Patient?x=1', true],
    ['http://[::1]:8080/fhir', true],
    ['HTTP://LOCALHOST:9/fhir', true],
    ['https://localhost/fhir', false],
    ['http://localhost.evil.com/fhir', false],
    ['http://evil.com/localhost', false],
    ['http://127.0.0.2/fhir', false],
    ['http://[::2]/fhir', false],
    ['http://user@localhost/fhir', false],
    ['http://user:secret@localhost/fhir', false],
    ['http://@localhost/fhir', false],
    ['http://localhost@evil.com/fhir', false],
    ['not a url', false],
    ['', false],
  ])('default allowlist: %s -> %s', (url, usable) => {
    expect(isUsableUrl(url, defaults)).toBe(usable);
  });

  it.each([
    ['https://ehr.example.org/fhir', true],
    ['https://ehr.example.org/fhir/', true],
    ['https://ehr.example.org/fhir/Patient/1', true],
    ['https://ehr.example.org:443/fhir', true],
    ['https://ehr.example.org:8443/fhir', true],
    ['https://ehr.example.org/fhirx', false],
    ['https://ehr.example.org/fhir-other/Patient', false],
    ['https://ehr.example.org/', false],
    ['https://ehr.example.org/fhir/../admin', false],
    ['https://ehr.example.org/other/../fhir/Patient', true],
    ['http://ehr.example.org/fhir', false],
    ['https://EHR.example.org/fhir', true],
    ['http://10.0.0.5:8080/anything', true],
    ['http://10.0.0.5/anything', false],
    ['http://10.0.0.5:8081/anything', false],
    ['http://10.0.0.5:80/anything', false],
  ])('configured allowlist: %s -> %s', (url, usable) => {
    expect(isUsableUrl(url, ehr)).toBe(usable);
  });

  it('compares a stated default port with the effective port', () => {
    const list = parseAllowlist('http://localhost:80');
    expect(isUsableUrl('http://localhost/fhir', list)).toBe(true);
    expect(isUsableUrl('http://localhost:80/fhir', list)).toBe(true);
    expect(isUsableUrl('http://localhost:8080/fhir', list)).toBe(false);
  });

  it('never matches with an empty allowlist', () => {
    expect(isUsableUrl('http://localhost/fhir', [])).toBe(false);
  });
});
