// Lint, including the dependency direction from STYLE.md:
//   core      <- adapters <- agent / functions / local / cli ; infra -> core (constants) + function entry paths
//   core imports no AWS SDK, no fs, no process.env; only adapters import @aws-sdk/*;
//   agent and functions never import each other.
import tseslint from 'typescript-eslint';

const sdk = { group: ['@aws-sdk/*'], message: 'Only adapters/ (and infra/local wiring) import the AWS SDK.' };
const noAgent = { group: ['**/agent/**', '../agent/*'], message: 'functions/ and agent/ never import each other.' };
const noFunctions = { group: ['**/functions/**', '../functions/*'], message: 'functions/ and agent/ never import each other.' };

export default tseslint.config(
  { ignores: ['node_modules/**', 'cdk.out/**', 'dist/**', '.ferry-local/**', 'coverage/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      complexity: ['warn', 25],
      'max-lines-per-function': ['warn', { max: 120, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    // A describe block is as long as the behaviour it covers.
    files: ['test/**/*.ts'],
    rules: { 'max-lines-per-function': 'off' },
  },
  {
    files: ['core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [sdk, { group: ['../adapters/*', '../agent/*', '../functions/*', '../local/*', '../cli/*', '../infra/*'], message: 'core/ is pure: it imports nothing outside core/.' }],
        paths: [
          { name: 'node:fs', message: 'core/ does no I/O.' },
          { name: 'node:fs/promises', message: 'core/ does no I/O.' },
          { name: 'node:child_process', message: 'core/ does no I/O.' },
        ],
      }],
      'no-restricted-properties': ['error',
        { object: 'process', property: 'env', message: 'Read configuration in a composition root, not in core/.' },
        { object: 'Date', property: 'now', message: 'Time comes from a Clock.' }],
    },
  },
  {
    files: ['agent/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [sdk, noFunctions] }] },
  },
  {
    files: ['functions/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [sdk, noAgent] }] },
  },
  {
    files: ['adapters/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [noAgent, noFunctions] }] },
  },
);
