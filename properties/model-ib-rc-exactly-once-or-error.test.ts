/**
 * The InfiniBand RC transport of model/ib-fabric.ts, watched from outside (IBTA Vol. 1 §9.7):
 *
 * - every SEND or RDMA WRITE message a host posts is delivered to the peer exactly once and in
 *   order; only a fault (port down, device removal) may cut a direction short, and then the sending
 *   QP is in ERR (its retries ran out, or its device is gone) -- packets may be corrupted on the way;
 *   with no fault every work request (RDMA READs too) completes successfully;
 * - the same with queue-pair machines their owner adds and moves, attached to the fabric;
 * - end-to-end credits: a message that meets receiver-not-ready (an RNR NAK) was sent as a credit
 *   probe, with nothing else outstanding; a message sent under a credit always finds a receive WQE.
 *
 * Each property is shown to fail on a deliberately broken fabric: a responder that accepts
 * out-of-order PSNs, and a requester that ignores its credits.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { defaultCosts } from '../model/costs.js';
import { QP_ATTR, queuePairMachine, requiredMask } from '../machines/queue-pair.js';
import { IbFabric, type IbFabricOptions } from '../model/ib-fabric.js';
import { System } from '../model/wiring.js';
import { systemRuns } from './harness.js';

interface Case {
  readonly seed: number;
  readonly msgs: readonly { readonly bytes: number; readonly op: 'send' | 'rdma-write' | 'rdma-read'; readonly from: 0 | 1 }[];
  readonly initialRecvs: number;
  readonly repostNs: number;
  readonly corruption: number;
  readonly fault: { kind: 'port-down' | 'device-removal'; host: 'A' | 'B'; atNs: number } | null;
  readonly mtu: 256 | 1024 | 2048 | 4096;
  /** QP machines added and moved by their owner, attached to the fabric (as VNET+VTOE does). */
  readonly attach: boolean;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  seed: fc.integer({ min: 0, max: 1_000_000 }),
  msgs: fc.array(fc.record({ bytes: fc.integer({ min: 0, max: 9_000 }), op: fc.constantFrom('send' as const, 'send' as const, 'rdma-write' as const, 'rdma-read' as const), from: fc.constantFrom(0 as const, 1 as const) }), { minLength: 1, maxLength: 40 }),
  initialRecvs: fc.integer({ min: 0, max: 6 }),
  repostNs: fc.integer({ min: 0, max: 30_000 }),
  corruption: fc.constantFrom(0, 0, 0.02, 0.1),
  fault: fc.option(fc.record({ kind: fc.constantFrom('port-down' as const, 'device-removal' as const), host: fc.constantFrom('A' as const, 'B' as const), atNs: fc.integer({ min: 0, max: 60_000 }) }), { nil: null }),
  mtu: fc.constantFrom(256 as const, 1024 as const, 2048 as const, 4096 as const),
  attach: fc.boolean(),
});

/** Runs a case; returns the problems an outside monitor sees (empty when the transport kept its promises). */
function check(k: Case, broken?: IbFabricOptions['broken']): string[] {
  const sys = new System({ seed: k.seed, recorder: { mode: 'ring', capacity: 32 } });
  const f = new IbFabric(sys, { hosts: ['A', 'B'], costs: defaultCosts, rcMtuBytes: k.mtu, corruptionRate: k.corruption, broken });
  let conn;
  if (k.attach) {
    for (const h of ['A', 'B']) {
      sys.addMachine(`${h}.owned-qp`, queuePairMachine, { minRnrTimerNs: 5_000 });
      for (const [from, to] of [['RESET', 'INIT'], ['INIT', 'RTR'], ['RTR', 'RTS']] as const) sys.schedule(0, `${h}.owned-qp`, { type: 'modify', to, mask: requiredMask(from, to, 'RC') });
    }
    conn = f.pairRc(f.attachQp('A', 'A.owned-qp', { ackTimeoutNs: 30_000 }), f.attachQp('B', 'B.owned-qp', { ackTimeoutNs: 30_000 }));
    // The owner's part of a device removal: the QP is moved to ERR (rdma_cm DEVICE_REMOVAL handling).
    if (k.fault?.kind === 'device-removal') sys.scheduleAt(k.fault.atNs, `${k.fault.host}.owned-qp`, { type: 'modify', to: 'ERR', mask: QP_ATTR.STATE });
  } else conn = f.connectRc('A', 'B', { ackTimeoutNs: 30_000, minRnrTimerNs: 5_000 });
  const qps = [conn.a, conn.b] as const;
  const sendStatus: string[] = [];
  let wr = 1;
  for (const q of qps) {
    for (let i = 0; i < k.initialRecvs; i++) f.postRecv(q, { id: wr++, bytes: 9_000 });
    // The application reposts a buffer some time after each receive completes (and keeps one coming if it had none).
    f.onCompletion(q, (e) => {
      if (e.queue === 'recv' && e.status === 'success') f.postRecv(q, { id: wr++, bytes: 9_000 }, k.repostNs);
      if (e.queue === 'send') sendStatus.push(e.status);
    });
    if (k.initialRecvs === 0) for (let i = 0; i < 4; i++) f.postRecv(q, { id: wr++, bytes: 9_000 }, k.repostNs * (i + 1) + 1_000);
  }
  k.msgs.forEach((m, i) => f.postSend(qps[m.from], { id: wr++, bytes: m.bytes, op: m.op, tag: i }, i * 200));
  if (k.fault) f.fault(k.fault);
  const r = sys.run({ maxEvents: 400_000 });
  const problems: string[] = [];
  if (r.stoppedBy !== 'empty') problems.push(`the run did not settle (${r.stoppedBy})`);
  for (const d of [0, 1] as const) {
    const { posted, delivered } = conn.dir[d];
    const prefix = delivered.every((t, i) => t === posted[i]);
    if (!prefix || delivered.length > posted.length) problems.push(`direction ${d}: delivered ${JSON.stringify(delivered)} is not a prefix of posted ${JSON.stringify(posted)}`);
    if (delivered.length < posted.length) {
      const sender = f.state(qps[d]);
      if (!k.fault) problems.push(`direction ${d}: ${posted.length - delivered.length} messages lost with no fault (sender ${sender})`);
      else if (sender !== 'ERR') problems.push(`direction ${d}: messages lost after ${k.fault.kind} but the sending QP is ${sender}, not ERR`);
    }
  }
  if (!k.fault) {
    // With no fault every work request completes, and successfully (RDMA READs included).
    if (sendStatus.length !== k.msgs.length || sendStatus.some((x) => x !== 'success')) problems.push(`send completions ${JSON.stringify(sendStatus)} for ${k.msgs.length} posted`);
  }
  for (const n of f.rnr) if (n.outstandingAtStart !== 0) problems.push(`${n.qp}: RNR NAK for a message sent under a credit (${n.outstandingAtStart} messages ahead of it)`);
  return problems;
}

describe('ib-fabric RC: exactly once in order, or the sending QP is in ERR', () => {
  test('holds over random workloads, losses and faults', () => {
    fc.assert(
      fc.property(caseArb, (k) => {
        expect(check(k)).toEqual([]);
      }),
      { numRuns: systemRuns(60) },
    );
  });

  test('a responder that accepts out-of-order PSNs breaks it (with corrupted packets)', () => {
    const cases = fc.sample(caseArb.map((k) => ({ ...k, corruption: 0.1, fault: null, initialRecvs: 6, repostNs: 0 })), { numRuns: 20, seed: 7 });
    expect(cases.some((k) => check(k, { acceptOutOfOrder: true }).some((p) => p.includes('prefix') || p.includes('lost')))).toBe(true);
  });

  test('a requester that ignores its credits sends into receiver-not-ready', () => {
    const cases = fc.sample(caseArb.map((k) => ({ ...k, corruption: 0, fault: null, initialRecvs: 2, repostNs: 20_000 })), { numRuns: 20, seed: 9 });
    expect(cases.some((k) => check(k, { ignoreCredits: true }).some((p) => p.includes('under a credit')))).toBe(true);
  });
});
