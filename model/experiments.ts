/**
 * The experiments a configuration can run, as `WorkloadRunners` (the contract of
 * /work/notes/interfaces.md "Workload runners"), and the registry the report iterates:
 * `runnersFor(id)` gives a configuration's runners, the MTUs it runs at and the configuration its
 * throughput is a fraction of. A configuration without a runner for a workload gets no row there.
 *
 * Ethernet-like configurations (those whose `build` returns a TwoHostPath, model/configurations.ts)
 * get their runners from the workloads written against that path: model/ping.ts (round trips),
 * model/ttcp.ts (UDP goodput), model/tcp.ts (TCP throughput and CPU use), model/mpi.ts (IMB over
 * TCP), model/hpcc.ts (HPCC over n hosts), model/variability.ts (the 64-byte ping train); the
 * VNET/P family also count interrupts on the receiving guest's host (model/interrupts.ts) in the
 * UDP stream and the ping train.
 *
 * The InfiniBand configurations bring their own runners: native-uverbs and native-sdp
 * (model/ib-verbs-paths.ts), native-ipoib and vnet-ipoib (model/ipoib.ts), vnet-vtoe
 * (model/vtoe-runs.ts). They run at one MTU each: the RC path MTU for verbs and SDP (the runners
 * do not use it), the IPoIB connected-mode MTU natively, the guest's virtio MTU 9000 through VNET.
 */
import { builtConfigurations, configurations, type BuiltConfiguration } from './configurations.js';
import type { Costs } from './costs.js';
import { interruptAccounting, type InterruptCounts } from './interrupts.js';
import { nativeSdpRunners, nativeUverbsRunners } from './ib-verbs-paths.js';
import { NATIVE_IPOIB_MTU, nativeIpoibRunners, VNET_IPOIB_GUEST_MTU, vnetIpoibRunners } from './ipoib.js';
import { hpccRunner } from './hpcc.js';
import { mpiRunner } from './mpi.js';
import { measureRttUs } from './ping.js';
import { tcpThroughputRunner } from './tcp.js';
import { measureUdpGoodput, TTCP_DURATION_NS } from './ttcp.js';
import { CALIBRATION_THROUGHPUT } from './calibration.js';
import { measurePingTrain, type VariabilityResult } from './variability.js';
import type { TwoHostPath } from './overlay-path.js';
import type { Observer } from './recorder.js';
import { vtoeRunners } from './vtoe-runs.js';

export interface RunOptions {
  readonly mtu: number;
  readonly costs: Costs;
  readonly seed: number;
  /** Shorter runs (the report's `--quick`). */
  readonly quick: boolean;
}

export interface MpiPoint {
  readonly sizeBytes: number;
  readonly latencyUs: number;
  readonly bandwidthMBs: number;
}

export interface WorkloadRunners {
  /** ICMP echo round trip (median), us. */
  rttUs?(o: RunOptions & { sizeBytes: number }): number;
  /** ttcp UDP goodput, bit/s; `interrupts` on the receiving host for the VNET/P family. */
  udpGoodput?(o: RunOptions): { bitsPerSecond: number; interrupts?: InterruptCounts };
  /** ttcp TCP, `streams` 1 (uni-stream) or 2 (bi-stream: one connection each way). bitsPerSecond is per stream (mean). cpu: busy fraction of each host (user + guest kernel + VMM over wall time). */
  tcpThroughput?(o: RunOptions & { streams: 1 | 2 }): { bitsPerSecond: number; cpu: { tx: number; rx: number } };
  /** IMB PingPong / SendRecv by message size. */
  mpi?(o: RunOptions & { mode: 'pingpong' | 'sendrecv'; sizes: readonly number[] }): readonly MpiPoint[];
  /** HPCC-style ping-pong (latency and bandwidth between host pairs) and ring over n hosts. */
  hpcc?(o: RunOptions & { hosts: number }): { pingPongLatencyUs: number; pingPongBandwidthMBs: number; ringLatencyUs: number; ringBandwidthMBs: number };
  /** A train of `count` 64-byte pings (model/variability.ts); `interrupts` on the receiving host for the VNET/P family. */
  pingTrain?(o: RunOptions & { count: number }): VariabilityResult & { interrupts?: InterruptCounts };
}

/** A configuration as the report runs it. */
export interface ConfigurationRunners {
  readonly id: string;
  /** MTUs the configuration runs at, in order. */
  readonly mtus: readonly number[];
  /** The configuration the throughput is a fraction of (native on the same link), or none. */
  readonly native?: string;
  /** Also run TCP bi-stream (one connection each way; calibration.md's InfiniBand rows). */
  readonly biStream: boolean;
  /** The VNET/P family: interrupt accounting applies. */
  readonly vnetpFamily: boolean;
  readonly runners: WorkloadRunners;
}

/**
 * The window of one ttcp UDP run: full, or `--quick` (the calibration's window, so the report's
 * MTU 1500 runs are the calibration's and it reuses them).
 */
export const ttcpDurationNs = (quick: boolean): number => (quick ? CALIBRATION_THROUGHPUT.durationNs : TTCP_DURATION_NS);
/**
 * Warm-up before a UDP stream's window: the calibration's, past the adaptive mode's first
 * evaluation window (omega = 5 ms, §5.1.7), after which a stream is VMM-driven as in steady state.
 */
export const UDP_WARMUP_NS: number = CALIBRATION_THROUGHPUT.warmupNs;

/**
 * MPI over Ethernet runs on the 10 Gbps configurations: the dissertation's IMB figures are at
 * 10 Gbps (calibration.md "MPI PingPong (IMB 3.2.2, OpenMPI 1.3), 10 Gbps"), and an IMB run over
 * the model's TCP is the report's longest experiment.
 */
const MPI_LINKS: readonly BuiltConfiguration['link'][] = ['link10GbpsBitRate'];

/** HPCC over Ethernet: the configurations of calibration.md's HPCC rows (VNET/P and Native at 1 and 10 Gbps). */
const HPCC_CONFIGS: readonly string[] = ['native-1g', 'vnetp-1g', 'native-10g', 'vnetp-10g'];

/** The workloads an Ethernet-like configuration runs, all from its `build`. */
export function ethernetRunners(c: BuiltConfiguration): WorkloadRunners {
  const vnetp = c.kind === 'vnetp';
  // A build that also hands the path's stream to `observers` (the workloads build their own path).
  const observed = (observers: readonly Observer[]): BuiltConfiguration['build'] => (o) => {
    const path: TwoHostPath = c.build(o);
    for (const obs of observers) path.system.recorder.observe(obs);
    return path;
  };
  return {
    rttUs: (o) => measureRttUs(c.build, { mtu: o.mtu, sizeBytes: o.sizeBytes, costs: o.costs, seed: o.seed }),
    udpGoodput: (o) => {
      // ttcp sends from A to B from 100 us on; interrupts are counted over the measurement window.
      const irq = interruptAccounting('B', 100_000 + UDP_WARMUP_NS);
      const g = measureUdpGoodput(vnetp ? observed([irq.onRecord]) : c.build, {
        mtu: o.mtu,
        linkBitRate: o.costs[c.link],
        costs: o.costs,
        seed: o.seed,
        warmupNs: UDP_WARMUP_NS,
        durationNs: ttcpDurationNs(o.quick),
      });
      return vnetp ? { bitsPerSecond: g.bitsPerSecond, interrupts: irq.result() } : { bitsPerSecond: g.bitsPerSecond };
    },
    tcpThroughput: tcpThroughputRunner(c.build, (costs) => costs[c.link]),
    ...(MPI_LINKS.includes(c.link) && c.kind !== 'vnetu' ? { mpi: mpiRunner(c.build) } : {}),
    ...(HPCC_CONFIGS.includes(c.id) ? { hpcc: hpccRunner(c) } : {}),
    pingTrain: (o) => {
      // Both directions carry one echo each; B's interrupts are the requests'.
      const irq = interruptAccounting('B');
      const { result } = measurePingTrain(c.build, { mtu: o.mtu, costs: o.costs, seed: o.seed, count: o.count, observers: vnetp ? [irq.onRecord] : [] });
      return vnetp ? { ...result, interrupts: irq.result() } : result;
    },
  };
}

const NATIVE_BY_LINK: Readonly<Record<BuiltConfiguration['link'], string>> = { link1GbpsBitRate: 'native-1g', link10GbpsBitRate: 'native-10g' };

/** RC path MTU of the verbs and SDP runs (the port's active MTU, calibration.md Testbed "UD datagram MTU 2 KB"). */
const IB_RC_MTU = 2048;

/**
 * The InfiniBand configurations: their runners and MTU, and the native run their throughput is
 * compared with (VNET over IPoIB against the kernel's TCP/IP over IPoIB; VNET+VTOE, TCP sockets
 * offloaded onto RC queue pairs, against SDP, which does the same natively).
 */
const INFINIBAND: Readonly<Record<string, Omit<ConfigurationRunners, 'id' | 'vnetpFamily' | 'biStream'>>> = {
  'native-uverbs': { mtus: [IB_RC_MTU], runners: nativeUverbsRunners },
  'native-sdp': { mtus: [IB_RC_MTU], runners: nativeSdpRunners },
  'native-ipoib': { mtus: [NATIVE_IPOIB_MTU], runners: nativeIpoibRunners },
  'vnet-ipoib': { mtus: [VNET_IPOIB_GUEST_MTU], native: 'native-ipoib', runners: vnetIpoibRunners },
  'vnet-vtoe': { mtus: [VNET_IPOIB_GUEST_MTU], native: 'native-sdp', runners: vtoeRunners },
};

/** The runners of configuration `id`, or undefined if it runs nothing yet (unknown, or no runners). */
export function runnersFor(id: string): ConfigurationRunners | undefined {
  const c = builtConfigurations().find((x) => x.id === id);
  // Built Ethernet-like configurations return a TwoHostPath; an InfiniBand one has its own runners.
  if (c && !(id in INFINIBAND)) return { id, mtus: c.mtus, native: NATIVE_BY_LINK[c.link], vnetpFamily: c.kind === 'vnetp', biStream: false, runners: ethernetRunners(c) };
  const ib = INFINIBAND[id];
  if (ib && configurations.some((x) => x.id === id)) return { id, ...ib, vnetpFamily: false, biStream: ib.runners.tcpThroughput !== undefined };
  return undefined;
}

/** Every configuration that runs something, in the order of `configurations`. */
export function runnableConfigurations(): ConfigurationRunners[] {
  return configurations.flatMap((c) => {
    const r = runnersFor(c.id);
    return r ? [r] : [];
  });
}

/** The workloads a configuration's runners cover, by report section name. */
export function workloadsOf(r: WorkloadRunners): string[] {
  const names: [keyof WorkloadRunners, string][] = [
    ['rttUs', 'rtt'],
    ['udpGoodput', 'udp'],
    ['tcpThroughput', 'tcp'],
    ['mpi', 'mpi'],
    ['hpcc', 'hpcc'],
    ['pingTrain', 'variability'],
  ];
  return names.filter(([k]) => r[k] !== undefined).map(([, n]) => n);
}
