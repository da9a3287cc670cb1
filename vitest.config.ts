import { defineConfig } from 'vitest/config';

/**
 * Test files that start several processes or measure throughput. They run one file at a time,
 * after the rest, so a timing assertion (the scale-out ratio) has the machine to itself and a
 * 2-core CI runner is not asked to boot a dozen Node processes at once.
 */
const PROCESS_HEAVY = [
  'test/deploy/scale-out.test.ts',
  'test/deploy/runtime-layout.test.ts',
  'test/semantics/replicas.test.ts',
  'test/resilience/outages.test.ts',
  'test/lifecycle/rounds-and-history.test.ts',
];

// Workspace packages export their TypeScript sources under the "source" condition, so tests run
// the code as written, without a build step.
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'in-process',
          include: ['{apps,packages}/*/src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: PROCESS_HEAVY,
          // Files start their own Redis and servers; two at a time suits a 2-core machine.
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'processes',
          include: PROCESS_HEAVY,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
