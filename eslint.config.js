// ESLint (flat config): typescript-eslint's recommended rules, without type information so a
// run takes seconds. Formatting is Prettier's job (`npm run lint` runs both), so no stylistic
// rules here; eslint-config-prettier is not installed, and neither set enables layout rules.
'use strict';
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');

// The `globals` package is not installed: the few Node globals the CommonJS files use, by hand
// (TypeScript files need none: the compiler checks names, and typescript-eslint turns no-undef off).
const nodeGlobals = Object.fromEntries(
  ['require', 'module', 'exports', '__dirname', '__filename', 'process', 'console', 'Buffer', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'URL'].map((g) => [g, 'readonly']),
);

module.exports = tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'coverage/**', '.tmp*/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
    rules: {
      // `_x` says "unused on purpose" (a callback's position, a destructured rest).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
    },
  },
  {
    // Tests and the plan's Pulumi mocks: Pulumi's mock API (MockResourceArgs.inputs, outputs) is
    // typed `any`, and Pulumi's testing guide has the program required only after setMocks, so
    // lazy `require` there is the documented pattern, not an accident.
    files: ['test/**/*.ts', 'scripts/plan/mocks.ts', 'scripts/plan/runtime.ts', 'policy/**/*.ts', 'scripts/plan/format.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The entry files, the agent build script and config files are CommonJS run by node as is.
    files: ['**/*.js', 'bin/tandem', 'bin/run-ts'],
    languageOptions: { sourceType: 'commonjs', globals: nodeGlobals },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
