// The throwaway PostgreSQL cluster of the store tests (src/dev/postgres.ts; no mock database), and the rule for when
// they run: without PostgreSQL they skip with a notice naming the install script; under CI (.ci/run sets
// CDS_REQUIRE_POSTGRES=1, and CI=true counts too) a missing PostgreSQL fails them instead.
import { INSTALL_SCRIPT, postgresProblem } from '../../src/dev/postgres';

export { INSTALL_SCRIPT, postgresBin, startPostgres, type ThrowawayPostgres } from '../../src/dev/postgres';

function required(): boolean {
  const ci = process.env['CI'];
  return process.env['CDS_REQUIRE_POSTGRES'] === '1' || (ci !== undefined && ci !== '' && ci !== 'false');
}

/**
 * Whether a throwaway cluster can be started here; when not, prints the notice the tests skip with (or throws under
 * CI, where they must never skip).
 * @param what - the tests that would skip
 */
export function postgresAvailable(what: string): boolean {
  const problem = postgresProblem();
  if (problem === undefined) {
    return true;
  }
  const message = `${what} skipped: ${problem}. Install PostgreSQL with ${INSTALL_SCRIPT} (as root; .ci/run does).`;
  if (required()) {
    throw new Error(`${message} Under CI these tests must not skip.`);
  }
  process.stderr.write(`\nNOTICE: ${message}\n\n`);
  return false;
}
