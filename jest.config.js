/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
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
};
