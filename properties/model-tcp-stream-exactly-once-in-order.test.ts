/**
 * The guest TCP byte stream (model/tcp.ts) reaches the receiving application exactly once and in
 * order, whatever the wire does to individual packets: loss, duplication (later copies),
 * reordering by delay, corruption of a byte (caught by the TCP checksum). Schedules are generated
 * per wire packet index by fast-check, over native and VNET/P paths, MTUs 1500 and 9000, one
 * stream or one each way (ACKs piggybacked on data). The monitor reads the recorded stream only:
 * the applications' `tcp.app.write` and `tcp.read` effects with their bytes.
 *
 * Also: one segment lost in the middle of a bulk transfer is recovered by fast retransmit on
 * duplicate ACKs, before the retransmission timeout (200 ms at least) could fire.
 *
 * Broken variants that must fail: delivering out-of-order segments at once, a retransmission timer
 * that never fires, a sender that ignores duplicate ACKs.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { RTO_MIN_NS } from '../model/tcp.js';
import { systemRuns } from './harness.js';
import { dropNthFromA, runStream, streamProblems, type WireAction } from './model-tcp-checks.js';

const actionArb: fc.Arbitrary<WireAction> = fc.oneof(
  { weight: 70, arbitrary: fc.constant({ kind: 'pass' } as const) },
  { weight: 6, arbitrary: fc.constant({ kind: 'drop' } as const) },
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 300_000 }).map((laterNs) => ({ kind: 'dup', laterNs }) as const) },
  { weight: 6, arbitrary: fc.integer({ min: 1_000, max: 400_000 }).map((ns) => ({ kind: 'delay', ns }) as const) },
  { weight: 3, arbitrary: fc.constant({ kind: 'corrupt' } as const) },
);

const caseArb = fc.record({
  id: fc.constantFrom('native-10g', 'vnetp-10g'),
  mtu: fc.constantFrom(1500, 9000),
  streams: fc.constantFrom(1 as const, 2 as const),
  totalBytes: fc.integer({ min: 1, max: 120_000 }),
  schedule: fc.array(actionArb, { maxLength: 160 }),
});

const conns = (streams: 1 | 2) => (streams === 1 ? ['A>B'] : ['A>B', 'B>A']);

describe('the TCP byte stream arrives exactly once, in order, under wire faults', () => {
  test('any fault schedule: every byte written is read once, in order', () => {
    fc.assert(
      fc.property(caseArb, (k) => {
        const run = runStream(k);
        for (const conn of conns(k.streams)) expect(streamProblems(run, conn)).toEqual([]);
      }),
      { numRuns: systemRuns(20) },
    );
  });

  test('one segment lost mid-transfer is repaired by fast retransmit, well before any timeout', () => {
    // A's 20th packet on the native wire is a data segment with many behind it (A sends nothing else).
    const run = runStream({ id: 'native-10g', mtu: 1500, streams: 1, totalBytes: 150_000, faults: dropNthFromA(20) });
    expect(streamProblems(run, 'A>B')).toEqual([]);
    const s = run.connections[0].stats.from;
    expect(s.retransmissions).toBeGreaterThan(0);
    expect(s.timeouts).toBe(0);
    const lastRead = run.records.filter((r) => r.type === 'tcp.read').at(-1)!.t;
    expect(lastRead).toBeLessThan(RTO_MIN_NS);
  });
});

describe('broken TCP variants fail these claims', () => {
  const reorder: WireAction[] = Array.from({ length: 12 }, (_, i) => (i === 6 ? { kind: 'delay', ns: 200_000 } : { kind: 'pass' }));

  test('delivering out-of-order segments at once breaks in-order delivery', () => {
    const run = runStream({ id: 'native-10g', mtu: 1500, streams: 1, totalBytes: 60_000, schedule: reorder, breakage: { deliverOutOfOrder: true } });
    expect(streamProblems(run, 'A>B')).not.toEqual([]);
  });

  test('a retransmission timer that never fires loses the stream when its last segment is lost', () => {
    // 3000 bytes at MTU 1500: three segments, the last dropped; no later segments, so no duplicate ACKs.
    const schedule: WireAction[] = [{ kind: 'pass' }, { kind: 'pass' }, { kind: 'drop' }];
    const ok = runStream({ id: 'native-10g', mtu: 1500, streams: 1, totalBytes: 3_000, schedule });
    expect(streamProblems(ok, 'A>B')).toEqual([]);
    const run = runStream({ id: 'native-10g', mtu: 1500, streams: 1, totalBytes: 3_000, schedule, breakage: { noRetransmitTimer: true } });
    expect(streamProblems(run, 'A>B')).not.toEqual([]);
  });

  test('a sender that ignores duplicate ACKs waits for the timeout', () => {
    const run = runStream({ id: 'native-10g', mtu: 1500, streams: 1, totalBytes: 150_000, faults: dropNthFromA(20), breakage: { ignoreDupAcks: true } });
    expect(run.connections[0].stats.from.timeouts).toBeGreaterThan(0);
    expect(run.records.filter((r) => r.type === 'tcp.read').at(-1)!.t).toBeGreaterThanOrEqual(RTO_MIN_NS);
  });
});
