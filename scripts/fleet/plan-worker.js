'use strict';
// Entry of a `fleet plan` worker process: the TypeScript sources transpiled on load, as in
// bin/tandem (bin/register.js: the one TypeScript runner).
require('../../bin/register').registerTypeScript('tandem fleet plan worker');
// The Pulumi SDK takes a stack trace for every promise it makes and every resource it registers
// (debugging aids); with source maps on, each trace is mapped back to the TypeScript: about half
// of a plan's CPU (measured: 575 -> 266 ms per plan). A worker reports errors by message, so it
// keeps neither. The plans are the same (test/fleet/plan.test.ts compares with `tandem plan`).
process.setSourceMapsEnabled(false);
Error.stackTraceLimit = 0;
require('./plan-worker.ts');
