import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config'

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
          env: { RESCUE_TEST_STORE: 'postgres' },
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
