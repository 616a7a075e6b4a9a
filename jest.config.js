/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // The slower suite, `npm run test:slow`, which .ci/run runs after `npm test`: the drills
  // (test/drill/: every failover scenario on one lab, back to back) and the differential test
  // on a lab with ssh, rsync and a relay (the local one is in `npm test`).
  testPathIgnorePatterns: ['/node_modules/', '/test/agent/differential\\.test\\.ts$', '/test/drill/'],
  transform: {
    // Type-checking is done once by `tsc --noEmit` in `npm test`; jest only transpiles, file by
    // file (tsconfig isolatedModules, which also keeps every file transpilable on its own, as
    // esbuild-register needs for bin/tandem).
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testTimeout: 60000,
  // Integration tests create real network namespaces; they clean up in afterAll and on signals.
  maxWorkers: 2,
  // Every suite has run and reported by then: the esbuild service processes that agent bundle
  // builds (scripts/build-agent.js) leave behind can keep jest's own process from exiting, which
  // in CI would hang until its time limit. Found at the end of a session; the leak itself is
  // left to find (`jest --detectOpenHandles`).
  forceExit: true,
};
