// Flat ESLint config: typescript-eslint's recommended rules, plus the house rule that core never
// imports the CLI framework or the terminal UI (STYLE.md rule 2).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', 'coverage/', 'oclif.manifest.json'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // CommonJS on purpose (scripts/vendor-load.cjs: loaded with require, for V8's code cache).
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', __dirname: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@oclif/*', 'ink', 'ink-*', 'react'],
              message: 'core never imports the CLI framework or the UI',
            },
            { group: ['**/commands/*', '**/cli/*'], message: 'dependencies point one way: commands -> core' },
          ],
        },
      ],
    },
  },
)
