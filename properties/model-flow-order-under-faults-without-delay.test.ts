/**
 * Per-flow order (model/system-invariants.ts `flow-order`): where the path guarantees it, the frames
 * one guest sends to another reach the receiving stack in the order they were sent. Every stage of
 * the Ethernet paths is first in, first out (the guest stack, the virtio rings, the VMM's transmit
 * and receive work for one vNIC, the bridge, the host NIC, the wire); the wire keeps order when it
 * loses, duplicates or corrupts packets, only delays reorder. So: on every configuration, with
 * fault schedules without delays (and no faults at all), with pings and UDP bursts both ways, no
 * frame of a flow is delivered after a later one (a duplicate may follow its original).
 *
 * The check fails on a wire that delays a packet without saying so
 * (model-broken-variants-caught-under-faults.test.ts).
 */
import fc from 'fast-check';
import { describe, test } from 'vitest';
import { builtConfigurations } from '../model/configurations.js';
import { WireFaults, type FaultAction } from '../model/faults.js';
import { systemRuns } from './harness.js';
import { runUnderFaults, workloadsArb } from './model-under-faults-harness.js';

const inOrderActionArb: fc.Arbitrary<FaultAction> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<FaultAction>({ kind: 'deliver' }) },
  { weight: 1, arbitrary: fc.constant<FaultAction>({ kind: 'drop' }) },
  { weight: 1, arbitrary: fc.constant<FaultAction>({ kind: 'duplicate' }) },
  { weight: 1, arbitrary: fc.nat({ max: 10_000 }).map((byte): FaultAction => ({ kind: 'corrupt', byte })) },
);

describe.each(builtConfigurations().map((c) => [c.id, c] as const))('%s', (_id, config) => {
  test('frames of one flow are delivered in send order when the wire does not delay', () => {
    fc.assert(
      fc.property(fc.constantFrom(...config.mtus), fc.array(inOrderActionArb, { maxLength: 40 }), workloadsArb, (mtu, schedule, workloads) => {
        runUnderFaults({ config, mtu, faults: WireFaults.scheduled(schedule), workloads, order: true });
      }),
      { numRuns: systemRuns(8) },
    );
  });

  test('regression: a long burst (the adaptive transmit mode switches) keeps its order', () => {
    // 308 frames at MTU 1500: more than the 256-descriptor transmit ring holds, and past the switch to VMM-driven mode.
    const mtu = Math.min(...config.mtus);
    runUnderFaults({ config, mtu, faults: WireFaults.none(), workloads: [{ kind: 'burst', from: 'A', datagramBytes: Array(7).fill(64_000), startNs: 100_000 }], order: true });
  });
});
