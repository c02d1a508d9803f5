/**
 * VNET+VTOE composition (model/vtoe-path.ts), correspondence between the guest's TCP state and the
 * overlay's IB state (protocol-notes.md §7 item 2; dissertation §5.3.1 Figure 5.7): a guest socket
 * enters ESTABLISHED only while its shadow connection is ESTABLISHED and its QP is in RTS (unless a
 * fault already tore the connection down and the guest's notice is on its way), and once the run
 * quiesces no socket is left in a synchronized state: the guest learnt of every shadow-connection
 * failure. Over arbitrary workloads, delays, app decisions and faults of both hosts.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { numRuns } from './harness.js';
import { MUTANTS, correspondence, holds, workloadArb } from './vtoe-path-checks.js';

describe('VNET+VTOE: guest ESTABLISHED corresponds to shadow ESTABLISHED and QP RTS', () => {
  test('holds over arbitrary interleavings, workloads and faults', () => {
    fc.assert(holds(correspondence, workloadArb()), { numRuns: numRuns(300) });
  });

  for (const m of MUTANTS.filter((x) => x.caughtBy.includes('correspondence'))) {
    test(`fails on the broken variant: ${m.name}`, () => {
      expect(fc.check(holds(correspondence, workloadArb(), m.variant), { numRuns: 200, seed: 1 }).failed).toBe(true);
    });
  }
});
