/**
 * The system invariants (model/system-invariants.ts) bite: each deliberately broken variant of the
 * model stops its run with a `ModelRunError` naming the invariant that should catch it, on every
 * configuration the break applies to.
 *
 * | broken variant                                                   | caught by      |
 * |------------------------------------------------------------------|----------------|
 * | a wire that loses a packet without counting it                   | conservation   |
 * | a wire that duplicates a packet without counting it              | conservation   |
 * | a MAC without an FCS check (a corrupted packet is delivered)      | conservation   |
 * | a bridge that hands a reassembled datagram to the core twice     | conservation   |
 * | routing that sends frames for the peer to the sender's own vNIC  | isolation      |
 * | a wire that delays a packet past later ones without saying so    | flow-order     |
 *
 * And the same runs without the break pass, so each failure is the break's. A bridge whose
 * reassembly timer never fires is in model-lost-fragment-needs-reassembly-timer-under-faults.test.ts
 * (it replaces the bridge module).
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { RouteSpec } from '../machines/routing.js';
import { builtConfigurations, type BuiltConfiguration } from '../model/configurations.js';
import { WireFaults, type FaultAction } from '../model/faults.js';
import { guestAddress, type TwoHostPath, type WireFaultHook } from '../model/overlay-path.js';
import type { PathInvariant } from '../model/system-invariants.js';
import { ModelRunError } from '../model/wiring.js';
import { systemRuns } from './harness.js';
import { runUnderFaults, workloadsArb, type FaultRun, type Workload } from './model-under-faults-harness.js';

const configs = builtConfigurations();
const overlays = configs.filter((c) => c.kind === 'vnetp' || c.kind === 'vnetu');

/** Guest A sends three multi-fragment datagrams to B, and B one back. */
const traffic: Workload[] = [
  { kind: 'burst', from: 'A', datagramBytes: [4000, 2000, 5000], startNs: 100_000 },
  { kind: 'burst', from: 'B', datagramBytes: [3000], startNs: 120_000 },
];

/** Wire packets at these indices go to `broken` instead of the fault model. */
const breakPackets =
  (indices: readonly number[], broken: (p: Parameters<WireFaultHook>[0], deliver: Parameters<WireFaultHook>[1]) => void) =>
  (hook: WireFaultHook): WireFaultHook =>
  (p, deliver) =>
    indices.includes(p.index) ? broken(p, deliver) : hook(p, deliver);

function expectCaught(run: Omit<FaultRun, 'faults'> & { faults?: WireFaults }, invariant: PathInvariant, message: RegExp): void {
  let error: unknown;
  try {
    runUnderFaults({ faults: WireFaults.none(), ...run });
  } catch (e) {
    error = e;
  }
  expect(error, 'the broken variant ran without a violation').toBeInstanceOf(ModelRunError);
  const e = error as ModelRunError;
  expect({ invariant: e.invariant, message: e.message.split('\n')[0] }).toMatchObject({ invariant, message: expect.stringMatching(message) });
  // The error carries the trace that led to the violation.
  expect(e.trace.length).toBeGreaterThan(0);
}

describe.each(configs.map((c) => [c.id, c] as const))('%s', (_id, config: BuiltConfiguration) => {
  const mtu = Math.min(...config.mtus);

  test('unbroken, the same runs pass', () => {
    runUnderFaults({ config, mtu, faults: WireFaults.none(), workloads: traffic, order: true });
    runUnderFaults({ config, mtu, faults: WireFaults.scheduled([{ kind: 'drop' }]), workloads: traffic, order: true });
  });

  test('a wire that loses a packet without counting it: conservation', () => {
    // Without an overlay the lost packet is a frame nobody accounts for; with one, a fragment whose
    // datagram's timeout counts the frame, but the wire copy itself vanished.
    expectCaught({ config, mtu, workloads: traffic, wrapHook: breakPackets([1], () => {}) }, 'conservation', /vanished|neither delivered nor dropped/);
  });

  test('a wire that duplicates a packet without counting it: conservation', () => {
    expectCaught(
      {
        config,
        mtu,
        workloads: traffic,
        wrapHook: breakPackets([0], (p, deliver) => {
          deliver(p.arriveNs, p.packet);
          deliver(p.arriveNs, p.packet);
        }),
      },
      'conservation',
      /more often than it was sent/,
    );
  });

  test('a MAC without an FCS check, delivering a corrupted packet: conservation', () => {
    // The last byte of the first packet: payload (UDP data, no checksum in ttcp frames; or the
    // last fragment's data), which no header check on the path looks at.
    const flipLast = breakPackets([0], (p, deliver) => {
      const bad = p.packet.slice();
      bad[bad.length - 1] ^= 0xff;
      deliver(p.arriveNs, bad);
    });
    const run = { config, mtu, workloads: [{ kind: 'burst', from: 'A', datagramBytes: [100], startNs: 100_000 }] as Workload[], wrapHook: flipLast };
    if (config.kind === 'native' || config.kind === 'passthrough') expectCaught(run, 'conservation', /no guest stack sent/);
    // Through the overlay the corrupted copy is another packet: the bridge's receive sees bytes no NIC sent.
    else expectCaught(run, 'conservation', /no guest stack sent|neither delivered nor dropped|vanished/);
  });

  test('when the wire does not delay, a hidden delay breaks flow-order', () => {
    // Packet 0 (the first fragment or frame) arrives after everything else A sends.
    const hideDelay = breakPackets([0], (p, deliver) => deliver(p.arriveNs + 2_000_000, p.packet));
    const oneWay: Workload[] = [{ kind: 'burst', from: 'A', datagramBytes: [100, 100, 100], startNs: 100_000 }];
    expectCaught({ config, mtu, workloads: oneWay, order: true, wrapHook: hideDelay }, 'flow-order', /delivered after frame/);
  });
});

describe.each(overlays.map((c) => [c.id, c] as const))('%s (overlay)', (_id, config: BuiltConfiguration) => {
  const mtu = Math.min(...config.mtus);

  test('a bridge that hands a reassembled datagram to the core twice: conservation', () => {
    const twice = (path: TwoHostPath) =>
      path.system.route('B.bridge', 'core.deliver', (e: { type: 'core.deliver'; frame: Uint8Array }, ctx) => {
        // Only datagrams that were fragmented: their inner frame does not fit one packet.
        if (e.frame.length + 42 <= mtu) return;
        const dst = guestAddress('B').guestMac;
        const src = guestAddress('A').guestMac;
        ctx.schedule(1_000, 'B.core', { type: 'frame', dst, src, frame: { id: 0, bytes: e.frame.length, data: e.frame } });
      });
    expectCaught({ config, mtu, workloads: traffic, breakWith: twice }, 'conservation', /delivered 2 times but has 1 copy/);
  });

  test("routing that sends frames for the peer to the sender's own vNIC: isolation", () => {
    const misroute = (path: TwoHostPath) => {
      // More specific than the configured route (source and destination given), so it wins.
      const route: RouteSpec = {
        srcMac: { kind: 'addr', mac: guestAddress('A').guestMac },
        dstMac: { kind: 'addr', mac: guestAddress('B').guestMac },
        dest: { kind: 'interface', id: 1 },
        from: { kind: 'any' },
      };
      path.system.scheduleAt(1, 'A.core', { type: 'route.add', route });
    };
    expectCaught({ config, mtu, workloads: traffic, breakWith: misroute }, 'isolation', /placed in the vNIC of guest A/);
  });
});

test('the generated-schedule property fails on a wire that sometimes loses a packet silently', () => {
  // The property of model-frames-accounted-under-faults.test.ts, over all configurations, with the break:
  // fast-check must find a counterexample.
  const losesEvery3rd = (hook: WireFaultHook): WireFaultHook => (p, deliver) => (p.index % 3 === 2 ? undefined : hook(p, deliver));
  const out = fc.check(
    fc.property(fc.constantFrom(...configs), fc.array(fc.constant<FaultAction>({ kind: 'deliver' }), { maxLength: 5 }), workloadsArb, (config, schedule, workloads) => {
      runUnderFaults({ config, mtu: Math.min(...config.mtus), faults: WireFaults.scheduled(schedule), workloads, wrapHook: losesEvery3rd });
    }),
    { numRuns: systemRuns(30) },
  );
  expect(out.failed).toBe(true);
  expect(out.errorInstance).toBeInstanceOf(ModelRunError);
  expect((out.errorInstance as ModelRunError).invariant).toBe('conservation');
});
