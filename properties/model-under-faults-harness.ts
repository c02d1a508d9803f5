/**
 * Shared pieces of the fault-injection tests (properties/model-*-under-faults*.test.ts): workloads
 * small enough to run to quiescence, and one function that builds a configuration with a fault
 * model and the system invariants, plays the workloads and settles the run.
 */
import fc from 'fast-check';
import type { Frame } from '../machines/virtio-ring.js';
import { EXPERIMENT_NIC, type BuiltConfiguration } from '../model/configurations.js';
import { defaultCosts, type Costs } from '../model/costs.js';
import { FaultInputError, WireFaults, type FaultAction, type FaultProbabilities } from '../model/faults.js';
import { echoFrames, addPing } from '../model/ping.js';
import { addTtcp, ttcpFrames } from '../model/ttcp.js';
import { buildHostsPath, guestAddress, type HostName, type TwoHostPath, type WireFaultHook } from '../model/overlay-path.js';
import { encodeEthernet, encodeUdp, ETHERTYPE_IPV4, fragmentIpv4, IPPROTO_UDP, parseIpv4Address, parseMac } from '../machines/packet.js';
import { settle, watchPath, type InvariantReport, type PathInvariants } from '../model/system-invariants.js';

/**
 * A ping train (model/ping.ts), a burst of UDP datagrams written back to back from A or B to the
 * other, or (on a path of more hosts) UDP datagrams between any two guests.
 */
export type Workload =
  | { readonly kind: 'ping'; readonly sizeBytes: number; readonly count: number }
  | { readonly kind: 'burst'; readonly from: 'A' | 'B'; readonly datagramBytes: readonly number[]; readonly startNs: number }
  | { readonly kind: 'udp'; readonly from: HostName; readonly to: HostName; readonly datagramBytes: readonly number[]; readonly startNs: number };

/** UDP datagrams from guest `from` to guest `to`, fragmented to `mtu`, as Ethernet frames. */
export function udpFrames(from: HostName, to: HostName, ids: readonly number[], bytes: readonly number[], mtu: number): Frame[] {
  const a = guestAddress(from);
  const b = guestAddress(to);
  const src = parseIpv4Address(a.guestIp)!;
  const dst = parseIpv4Address(b.guestIp)!;
  return bytes.flatMap((n, i) => {
    const payload = new Uint8Array(n).map((_, k) => (ids[i] + k) & 0xff);
    const udp = encodeUdp({ srcPort: 6000, dstPort: 6000, srcIp: src, dstIp: dst, checksum: true }, payload);
    const packets = fragmentIpv4({ src, dst, protocol: IPPROTO_UDP, id: ids[i] & 0xffff, ttl: 64, dontFragment: false, moreFragments: false, fragmentOffset: 0 }, udp, mtu);
    return packets.map((p, j) => {
      const data = encodeEthernet({ dst: parseMac(b.guestMac)!, src: parseMac(a.guestMac)!, etherType: ETHERTYPE_IPV4 }, p);
      return { id: 300_000 + ids[i] * 64 + j, bytes: data.length, data };
    });
  });
}

/** IP ids of burst datagrams start here, apart from the ping's sequence numbers. */
const BURST_ID = 1000;

/** Guest `from` writes its datagrams at `startNs`, all at once (each fragmented by its stack to the MTU). */
export function addBurst(path: TwoHostPath, w: Extract<Workload, { kind: 'burst' }>, mtu: number, firstSeq: number): number {
  const frames: Frame[] = [];
  let seq = firstSeq;
  for (const bytes of w.datagramBytes) {
    // A -> B as ttcp's UDP datagrams; B -> A as ICMP datagrams (echoFrames builds both directions).
    const fs = w.from === 'A' ? ttcpFrames(BURST_ID + seq, mtu, 100_000 + frames.length, bytes) : echoFrames('B', 8, BURST_ID + seq, bytes, mtu, 200_000 + frames.length);
    frames.push(...fs);
    seq++;
  }
  path.system.scheduleAt(w.startNs, path.stack[w.from], { type: 'send', frames });
  return seq;
}

export interface FaultRun {
  readonly config: BuiltConfiguration;
  readonly mtu: number;
  readonly faults: WireFaults;
  readonly workloads: readonly Workload[];
  readonly seed?: number;
  /** Cost table (default `defaultCosts`): the invariants must hold whatever the costs. */
  readonly costs?: Costs;
  /** Check per-flow order (no reordering faults). */
  readonly order?: boolean;
  /** Hosts on the switch (default 2: the configuration's own build). */
  readonly hosts?: number;
  /** Host NIC receive queue size (frames); default the host-nic machine's. */
  readonly nicRxQueueSize?: number;
  /** Breaks the model on purpose after the build (mutants). */
  readonly breakWith?: (path: TwoHostPath) => void;
  /** Check the machines' own catalog invariants after every delivery (default true). */
  readonly machineInvariants?: boolean;
  /** Replaces the wire's fault hook by a wrapper of it (a broken wire, for mutants). */
  readonly wrapHook?: (hook: WireFaultHook) => WireFaultHook;
}

/** Builds, attaches faults and invariants, plays and settles; throws ModelRunError on a violation. */
export function runUnderFaults(r: FaultRun): { report: InvariantReport; invariants: PathInvariants; path: TwoHostPath } {
  const c = r.config;
  const costs = r.costs ?? defaultCosts;
  const hook = r.wrapHook ? r.wrapHook(r.faults.hook) : r.faults.hook;
  const system = { recorder: { mode: 'ring' as const, capacity: 48 }, checkInvariants: r.machineInvariants ?? true };
  // The configurations take neither a NIC queue size nor a host count (yet): build the same path as `build` does, with them.
  const path =
    r.nicRxQueueSize === undefined && r.hosts === undefined
      ? c.build({ mtu: r.mtu, costs, seed: r.seed ?? 1, wireFaults: hook, system })
      : buildHostsPath({
          hosts: r.hosts,
          kind: c.kind,
          plus: c.plus,
          mtu: r.mtu,
          linkBitRate: costs[c.link],
          nic: r.nicRxQueueSize === undefined ? EXPERIMENT_NIC : { ...EXPERIMENT_NIC, queueFrames: r.nicRxQueueSize },
          costs,
          seed: r.seed ?? 1,
          system,
          wireFaults: hook,
        });
  r.faults.attach(path.system);
  const invariants = watchPath(path, { order: r.order });
  let seq = 0;
  let pinged = false;
  for (const w of r.workloads) {
    if (w.kind === 'ping') {
      if (pinged) continue; // one ping train per run (its components have fixed names)
      pinged = true;
      addPing(path, { sizeBytes: w.sizeBytes, mtu: r.mtu, count: w.count });
    } else if (w.kind === 'burst') seq = addBurst(path, w, r.mtu, seq);
    else {
      const ids = w.datagramBytes.map(() => BURST_ID + seq++);
      path.system.scheduleAt(w.startNs, path.stack[w.from], { type: 'send', frames: udpFrames(w.from, w.to, ids, w.datagramBytes, r.mtu) });
    }
  }
  r.breakWith?.(path);
  const report = settle(path, invariants);
  return { report, invariants, path };
}

// ---- generators --------------------------------------------------------------------------------

export const faultActionArb: fc.Arbitrary<FaultAction> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<FaultAction>({ kind: 'deliver' }) },
  { weight: 1, arbitrary: fc.constant<FaultAction>({ kind: 'drop' }) },
  { weight: 1, arbitrary: fc.constant<FaultAction>({ kind: 'duplicate' }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 200_000 }).map((ns): FaultAction => ({ kind: 'delay', ns })) },
  { weight: 1, arbitrary: fc.nat({ max: 10_000 }).map((byte): FaultAction => ({ kind: 'corrupt', byte })) },
);

export const faultScheduleArb = fc.array(faultActionArb, { maxLength: 40 });

export const probabilitiesArb: fc.Arbitrary<FaultProbabilities> = fc
  .tuple(fc.double({ min: 0, max: 0.15, noNaN: true }), fc.double({ min: 0, max: 0.15, noNaN: true }), fc.double({ min: 0, max: 0.15, noNaN: true }), fc.double({ min: 0, max: 0.15, noNaN: true }))
  .map(([loss, duplicate, reorder, corrupt]) => ({ loss, duplicate, reorder, corrupt, maxDelayNs: 100_000 }));

/** A ping train and/or small bursts both ways; sizes span one frame to several fragments at MTU 1500. */
export const workloadsArb: fc.Arbitrary<Workload[]> = fc
  .tuple(
    fc.option(fc.record({ kind: fc.constant('ping' as const), sizeBytes: fc.integer({ min: 0, max: 9000 }), count: fc.integer({ min: 1, max: 3 }) }), { nil: undefined }),
    fc.array(
      fc.record({
        kind: fc.constant('burst' as const),
        from: fc.constantFrom('A' as const, 'B' as const),
        datagramBytes: fc.array(fc.integer({ min: 0, max: 6000 }), { minLength: 1, maxLength: 4 }),
        startNs: fc.integer({ min: 50_000, max: 400_000 }),
      }),
      { maxLength: 2 },
    ),
  )
  .map(([ping, bursts]) => [...(ping ? [ping] : []), ...bursts])
  .filter((ws) => ws.length > 0);

/** UDP datagrams between random pairs of `hosts` guests (each pair of distinct hosts). */
export const manyHostsWorkloadArb = (hosts: number): fc.Arbitrary<Workload[]> => {
  const names = (['A', 'B', 'C', 'D', 'E', 'F'] as const).slice(0, hosts);
  return fc.array(
    fc
      .record({
        from: fc.constantFrom(...names),
        to: fc.constantFrom(...names),
        datagramBytes: fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 3 }),
        startNs: fc.integer({ min: 50_000, max: 300_000 }),
      })
      .filter((w) => w.from !== w.to)
      .map((w): Workload => ({ kind: 'udp', ...w })),
    { minLength: 1, maxLength: 4 },
  );
};

export { FaultInputError };

/**
 * ttcp (model/ttcp.ts) from A to B for `windowNs` after it starts, under `faults`: it never stops
 * writing, so the run ends at a time rather than at quiescence and only the invariants checked
 * during the run apply (nothing delivered that was not sent, or more often than it has copies,
 * or after its copies were dropped; isolation; order if asked). Returns the monitor's totals then.
 */
export function runTtcpUnderFaults(r: Omit<FaultRun, 'workloads' | 'nicRxQueueSize' | 'breakWith'> & { readonly windowNs: number }): InvariantReport {
  const costs = r.costs ?? defaultCosts;
  const hook = r.wrapHook ? r.wrapHook(r.faults.hook) : r.faults.hook;
  const system = { recorder: { mode: 'ring' as const, capacity: 48 }, checkInvariants: r.machineInvariants ?? true };
  const path = r.config.build({ mtu: r.mtu, costs, seed: r.seed ?? 1, wireFaults: hook, system });
  r.faults.attach(path.system);
  const invariants = watchPath(path, { order: r.order });
  addTtcp(path, { mtu: r.mtu, linkBitRate: costs[r.config.link], costs, startNs: 100_000 });
  path.system.run({ until: 100_000 + r.windowNs });
  return invariants.report();
}
