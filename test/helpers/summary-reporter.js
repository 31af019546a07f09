// Prints the plain closing line CI reads, "N passed, N failed" (", N skipped" when some were), as the very last line
// of `npm test`: jest prints its own summary ("Test Suites: ...", "Ran all test suites") and any notice about open
// handles after the reporters' onRunComplete, so the line is written when the jest process exits.
const fs = require('node:fs');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const line = `${results.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
    if (!this.registered) {
      this.registered = true;
      // Synchronous, so that it is written even when jest ends the process with process.exit().
      process.once('exit', () => fs.writeSync(1, `\n${this.line}\n`));
    }
    this.line = line;
  }
}
module.exports = SummaryReporter;
