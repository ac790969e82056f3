import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config'

// The end user's shell in int tests (hosts started in-process) is /bin/sh, as in e2e: the
// developer's rc files must not decide whether a test passes (a stale pyenv lock in ~/.bashrc once
// made every interactive bash here wait 60 s, and every shell test time out).
const endUserShell = { SHELL: '/bin/sh' }

// The gateway's int tests again on PostgreSQL (same migrations, same queries, many-gateway races),
// when RESCUE_TEST_PG_URL names a server; without it they are skipped, and this says so once.
const pgProjects: TestProjectInlineConfiguration[] = process.env.RESCUE_TEST_PG_URL
  ? [
      {
        test: {
          name: 'int-pg',
          include: [
            'test/accounts.int.test.ts',
            'test/gateway.int.test.ts',
            'test/queues.int.test.ts',
            'test/compliance.int.test.ts',
          ],
          env: { RESCUE_TEST_STORE: 'postgres', ...endUserShell },
          pool: 'forks',
          testTimeout: 60_000,
          hookTimeout: 30_000,
        },
      },
    ]
  : []
if (pgProjects.length === 0) {
  console.log(
    'PostgreSQL tests skipped: set RESCUE_TEST_PG_URL (e.g. postgres://postgres@127.0.0.1:5432/test)',
  )
}

// Three tiers by suffix (STYLE.md rule 10). e2e runs the built CLI and node-pty, so it uses forks
// and no file parallelism (the native addon crashes in worker threads).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.{ts,tsx}', 'test/**/*.test.{ts,tsx}'],
          exclude: ['**/*.int.test.ts', 'test/e2e/**', 'node_modules/**', 'dist/**'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'int',
          include: ['src/**/*.int.test.ts', 'test/**/*.int.test.ts'],
          env: endUserShell,
          exclude: ['test/e2e/**', 'node_modules/**', 'dist/**'],
          pool: 'forks',
          testTimeout: 60_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.e2e.test.ts'],
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 90_000,
          hookTimeout: 60_000,
        },
      },
      ...pgProjects,
    ],
  },
})
