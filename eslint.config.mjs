// ESLint flat config: typescript-eslint with type information, so promise misuse is caught (no floating promises).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'src/cri/generated/**', 'bench/results/**', '**/*.mjs', '**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's test()/describe() return promises the runner itself awaits.
        {
          allowForKnownSafeCalls: [
            { from: 'package', name: ['test', 'it', 'describe', 'suite', 'before', 'after'], package: 'node:test' },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // `test.only` / `describe.only` would silently skip the rest of a suite in CI.
      'no-restricted-properties': [
        'error',
        { object: 'test', property: 'only', message: 'no .only in committed tests' },
        { object: 'describe', property: 'only', message: 'no .only in committed tests' },
        { object: 'it', property: 'only', message: 'no .only in committed tests' },
      ],
    },
  },
  // The layering of docs/ARCHITECTURE.md: backends sit below the router and know nothing above them (they may use
  // the CRI message shapes of cri/types); no backend reaches into another; the CRI glue talks to the Router's
  // methods only, never to its core (state, locks and backends are the router's to hold).
  {
    files: ['src/backends/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/router/*', '**/streaming/*', '**/daemon'],
              message: 'backends never import the router, streaming or the daemon',
            },
            { group: ['**/cri/*', '!**/cri/types'], message: 'backends use only the CRI shapes of src/cri/types' },
          ],
        },
      ],
    },
  },
  ...['runc', 'vm', 'docker', 'rkt'].map((backend) => ({
    files: [`src/backends/${backend}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/router/*', '**/streaming/*', '**/daemon'],
              message: 'backends never import the router, streaming or the daemon',
            },
            { group: ['**/cri/*', '!**/cri/types'], message: 'backends use only the CRI shapes of src/cri/types' },
            {
              group: ['runc', 'vm', 'docker', 'rkt']
                .filter((b) => b !== backend)
                .map((b) => `**/backends/${b}/**`)
                .concat(
                  ['runc', 'vm', 'docker', 'rkt']
                    .filter((b) => b !== backend)
                    .flatMap((b) => [`../${b}/*`, `../../${b}/*`, `../${b}`]),
                ),
              message: 'a backend never imports another backend',
            },
          ],
        },
      ],
    },
  })),
  // State is storage only: what it holds is interpreted by the router (reconcile included), not by the store.
  {
    files: ['src/state/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/router/*',
                '**/backends/*',
                '**/backends/*/**',
                '**/cri/*',
                '!**/cri/types',
                '**/streaming/*',
              ],
              message: 'the state store does not know the router, backends, CRI glue or streaming',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/cri/**/*.ts', 'src/streaming/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/router/core'], message: 'talk to the Router, not its core' }] },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[property.name='core'][object.name='router']",
          message: 'talk to the Router, not its core',
        },
      ],
    },
  },
);
