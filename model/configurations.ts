/**
 * The configurations of the system model: what sits between a guest's network stack and the wire,
 * on each of the two hosts, and on which link (calibration.md "Testbed"; dissertation chapter 6).
 *
 * An Ethernet configuration is `built`: `build` assembles it from the machines
 * (model/overlay-path.ts). An `infiniband` one is assembled by its own module and run through its
 * workload runners (model/experiments.ts). The docs generator lists them all in docs/configurations.md.
 */
import type { CostName, Costs } from './costs.js';
import { buildHostsPath, type NicCoalescing, type PathKind, type TwoHostPath, type VnetpPlus, type WireFaultHook } from './overlay-path.js';
import type { SystemOptions } from './wiring.js';

export interface BuildOptions {
  readonly mtu: number;
  readonly costs: Costs;
  readonly seed?: number;
  readonly system?: Omit<SystemOptions, 'seed'>;
  /** Faults on the wire (model/overlay-path.ts `WireFaultHook`). */
  readonly wireFaults?: WireFaultHook;
  /** Receive descriptors of each host NIC (default the host-nic machine's); small values make its queue overflow. */
  readonly nicQueueFrames?: number;
  /** Hosts on the switch, 2 (default) to 6. */
  readonly hosts?: number;
  /** Host noise on the cores (default true); off for comparisons that noise would only blur. */
  readonly noise?: boolean;
}

interface ConfigurationCommon {
  readonly id: string;
  readonly title: string;
  /** What the configuration is and how it is assembled. */
  readonly description: string;
  /** Catalog machines wired between guest and wire. */
  readonly machines: readonly string[];
  /** How the path is assembled, in a sentence or two. */
  readonly assembly: string;
}

export interface BuiltConfiguration extends ConfigurationCommon {
  readonly status: 'built';
  readonly kind: PathKind;
  /** The VNET/P+ optimizations of a `vnetp` path (absent: plain VNET/P). */
  readonly plus?: VnetpPlus;
  /** The cost parameter giving the link rate. */
  readonly link: Extract<CostName, 'link1GbpsBitRate' | 'link10GbpsBitRate'>;
  /** The MTUs the experiments run it with. */
  readonly mtus: readonly number[];
  readonly build: (o: BuildOptions) => TwoHostPath;
}

/**
 * An InfiniBand configuration: assembled by its own module on the InfiniBand fabric
 * (model/ib-fabric.ts) and run through its `WorkloadRunners` (model/experiments.ts `runnersFor`),
 * since its workloads are not frames through an Ethernet path.
 */
export interface InfinibandConfiguration extends ConfigurationCommon {
  readonly status: 'infiniband';
  /** The module that assembles it and exports its runners. */
  readonly module: string;
  /** Fitted to calibration.md's InfiniBand rows (a baseline), or a prediction. */
  readonly role: 'baseline' | 'prediction';
}

export type Configuration = BuiltConfiguration | InfinibandConfiguration;

/**
 * Host NIC coalescing in the experiments: an interrupt for the first frame that arrives while the
 * interrupt is unmasked (rx-frames 1), NAPI polling the rest. The testbed's ethtool settings are
 * not reported; a ping's packet rate is far below where drivers' adaptive coalescing holds the
 * interrupt, and a held interrupt of tens of microseconds per direction could not give the 58 us
 * native round trip. An assumption, not a fitted value.
 */
export const EXPERIMENT_NIC: NicCoalescing = { rxUsecs: 0, rxFrames: 1 };

const VNETP_MACHINES = ['virtio-ring', 'dispatcher', 'routing', 'bridge', 'host-nic', 'cut-through'] as const;

function built(
  c: Omit<BuiltConfiguration, 'status' | 'build' | 'description'> & { readonly about: string },
): BuiltConfiguration {
  const { about, ...rest } = c;
  return {
    ...rest,
    status: 'built',
    description: `${about} Assembly: ${c.assembly}`,
    build: (o) =>
      buildHostsPath({
        kind: c.kind,
        plus: c.plus,
        mtu: o.mtu,
        linkBitRate: o.costs[c.link],
        nic: o.nicQueueFrames === undefined ? EXPERIMENT_NIC : { ...EXPERIMENT_NIC, queueFrames: o.nicQueueFrames },
        costs: o.costs,
        seed: o.seed,
        system: o.system,
        wireFaults: o.wireFaults,
        hosts: o.hosts,
        noise: o.noise,
      }),
  };
}

function infiniband(c: Omit<InfinibandConfiguration, 'status' | 'description'> & { readonly about: string }): InfinibandConfiguration {
  const { about, ...rest } = c;
  return { ...rest, status: 'infiniband', description: `${about} Assembly: ${c.assembly} Runs: ${c.module}.` };
}


const NATIVE = 'The guest stack runs directly on the host NIC driver; no VMM on the path.';
const NATIVE_ASSEMBLY =
  'stack -> host NIC (transmit) -> wire -> host NIC (interrupt per frame, NAPI poll) -> stack; per-packet stack cost each way, host interrupt-to-poll time.';
const PASSTHROUGH = 'The guest owns the host NIC (device assignment): no overlay, but each receive interrupt exits to the VMM, which injects it.';
const PASSTHROUGH_ASSEMBLY = 'as native, plus one VM exit/entry between the host NIC interrupt and the guest driver polling the NIC.';
const VNETP = 'VNET/P: the overlay inside the Palacios VMM, guest virtio NIC, MAC-in-UDP encapsulation through the host stack (§5.1).';
const VNETP_ASSEMBLY =
  'stack -> virtio tx ring -> kick (VM exit) -> dispatcher -> one copy (cut-through machine in copy mode) -> routing -> bridge (UDP encapsulation, IP fragmentation to the MTU) -> host NIC -> wire -> host NIC (interrupt, NAPI poll) -> bridge (reassembly) -> routing -> copy -> virtio rx ring -> virtual interrupt -> guest driver -> stack.';

export const configurations: readonly Configuration[] = [
  built({ id: 'native-1g', title: 'Native, 1 Gbps', about: NATIVE, machines: ['host-nic'], assembly: NATIVE_ASSEMBLY, kind: 'native', link: 'link1GbpsBitRate', mtus: [1500] }),
  built({ id: 'native-10g', title: 'Native, 10 Gbps', about: NATIVE, machines: ['host-nic'], assembly: NATIVE_ASSEMBLY, kind: 'native', link: 'link10GbpsBitRate', mtus: [1500, 9000] }),
  built({ id: 'passthrough-1g', title: 'Passthrough, 1 Gbps', about: PASSTHROUGH, machines: ['host-nic'], assembly: PASSTHROUGH_ASSEMBLY, kind: 'passthrough', link: 'link1GbpsBitRate', mtus: [1500] }),
  built({ id: 'passthrough-10g', title: 'Passthrough, 10 Gbps', about: PASSTHROUGH, machines: ['host-nic'], assembly: PASSTHROUGH_ASSEMBLY, kind: 'passthrough', link: 'link10GbpsBitRate', mtus: [1500, 9000] }),
  built({
    id: 'vnetu-1g',
    title: 'VNET/U, 1 Gbps',
    about: 'VNET/U: the user-level overlay daemon (§3.1), reached through a host TAP device and a UDP socket.',
    machines: [...VNETP_MACHINES],
    assembly:
      'as vnetp, with routing and encapsulation in a user-level daemon: two kernel/user crossings per frame on each host in each direction (VMM -> TAP -> daemon, daemon -> UDP socket; socket -> daemon, daemon -> TAP -> VMM).',
    kind: 'vnetu',
    link: 'link1GbpsBitRate',
    mtus: [1500],
  }),
  built({ id: 'vnetp-1g', title: 'VNET/P, 1 Gbps', about: VNETP, machines: [...VNETP_MACHINES], assembly: VNETP_ASSEMBLY, kind: 'vnetp', link: 'link1GbpsBitRate', mtus: [1500] }),
  built({ id: 'vnetp-10g', title: 'VNET/P, 10 Gbps', about: VNETP, machines: [...VNETP_MACHINES], assembly: VNETP_ASSEMBLY, kind: 'vnetp', link: 'link10GbpsBitRate', mtus: [1500, 9000] }),
  built({
    id: 'vnetp-10g+oi',
    title: 'VNET/P with optimistic interrupts, 10 Gbps',
    about:
      'VNET/P with optimistic interrupts alone (§4.3): the virtual interrupt is raised when the host NIC interrupt arrives, overlapping its delivery with overlay processing. A prediction on the calibrated costs, never fitted.',
    machines: [...VNETP_MACHINES, 'optimistic-interrupts', 'guest-interrupts'],
    assembly:
      "as vnetp-10g, but each host NIC interrupt is a host.arrival to optimistic-interrupts (with the guest line's mask bit), whose EVI is raised at once on the guest-interrupts line; the host NIC's eoc is a host.eoc; the handler runs T0-T2 after the line is taken and polls the vNIC ring if it finds frames (a premature run costs the guest one trap); the plain interrupt after the frame lands in the vNIC ring is gone.",
    kind: 'vnetp',
    plus: { optimisticInterrupts: true, cutThrough: false, host: 'linux' },
    link: 'link10GbpsBitRate',
    mtus: [1500, 9000],
  }),
  built({
    id: 'vnetp-10g+ct',
    title: 'VNET/P with cut-through forwarding, 10 Gbps',
    about:
      'VNET/P with zero-copy cut-through forwarding alone (§4.4): the host NIC receives into and sends from guest buffers. A prediction on the calibrated costs, never fitted.',
    machines: [...VNETP_MACHINES],
    assembly:
      'as vnetp-10g, with the cut-through machine in mode cut-through: transmit hands the host NIC a scatter/gather list (headers as their own segment, the guest buffer unchanged), receive DMAs into a posted guest buffer; no copy time is charged because the machine reports no copy.',
    kind: 'vnetp',
    plus: { optimisticInterrupts: false, cutThrough: true, host: 'linux' },
    link: 'link10GbpsBitRate',
    mtus: [1500, 9000],
  }),
  built({
    id: 'vnetp-10g+oi+ct',
    title: 'VNET/P with optimistic interrupts and cut-through, 10 Gbps',
    about: 'VNET/P with both optimizations of chapter 4, on the Linux host. A prediction on the calibrated costs, never fitted.',
    machines: [...VNETP_MACHINES, 'optimistic-interrupts', 'guest-interrupts'],
    assembly: 'as vnetp-10g+oi and vnetp-10g+ct together.',
    kind: 'vnetp',
    plus: { optimisticInterrupts: true, cutThrough: true, host: 'linux' },
    link: 'link10GbpsBitRate',
    mtus: [1500, 9000],
  }),
  built({
    id: 'vnetp+-10g',
    title: 'VNET/P+, 10 Gbps',
    about:
      'VNET/P+ (§5.2): both optimizations on the Kitten lightweight kernel host, whose noise is lower (§4.5). Its results are predictions and will never be fitted.',
    machines: [...VNETP_MACHINES, 'optimistic-interrupts', 'guest-interrupts'],
    assembly:
      'as vnetp-10g+oi+ct on a lightweight-kernel host: the noise events that take each core of the host (a Poisson process per core) follow the lwkNoise* parameters instead of the Linux ones (§4.5, noise isolation). Everything else is vnetp-10g+oi+ct.',
    kind: 'vnetp',
    plus: { optimisticInterrupts: true, cutThrough: true, host: 'lwk' },
    link: 'link10GbpsBitRate',
    mtus: [1500, 9000],
  }),
  // InfiniBand (§3.3, §4.6, §5.3); vnet-vtoe is a prediction and will never be fitted.
  infiniband({
    id: 'native-uverbs',
    title: 'Native, MPI on InfiniBand verbs',
    about: 'MPI directly on InfiniBand verbs (reliable connected queue pairs), no virtualization: the InfiniBand baseline.',
    machines: ['queue-pair'],
    assembly:
      "two to six hosts, one RC queue pair per rank pair on the InfiniBand fabric (4x QDR link, one switch, PCIe 1.0a x8 HCA DMA, PSNs, ACKs, credits, RNR). OpenMPI's openib BTL: eager SEND with copies up to its eager limit, rendezvous (RTS/CTS, RDMA WRITE with zero copy, FIN) above; ranks busy-poll their completion queues.",
    module: 'model/ib-verbs-paths.ts (nativeUverbsRunners: mpi, hpcc)',
    role: 'baseline',
  }),
  infiniband({
    id: 'native-sdp',
    title: 'Native, TCP sockets over SDP',
    about: 'TCP sockets offloaded through the Sockets Direct Protocol onto RC queue pairs, no virtualization.',
    machines: ['queue-pair'],
    assembly:
      "ttcp over SDP sockets, one RC queue pair per stream: buffered copies through SDP's private buffers with SDP credits below the zero-copy threshold (ttcp's 64000-byte writes), SrcAvail and RDMA READ at or above it; receive interrupts when the core is idle.",
    module: 'model/ib-verbs-paths.ts (nativeSdpRunners: tcpThroughput)',
    role: 'baseline',
  }),
  infiniband({
    id: 'native-ipoib',
    title: 'Native, TCP/IP over IPoIB',
    about: "The kernel's TCP/IP stack over IP-over-InfiniBand in connected mode (RFC 4755, MTU 65520), no virtualization.",
    machines: ['host-nic', 'queue-pair'],
    assembly:
      "the native two-host path (stack, TCP, ping, ttcp) with the Ethernet host NIC and wire replaced by the IPoIB device: each IP packet is one RC SEND with the 4-byte IPoIB header on the fabric; one completion queue per host with one interrupt and NAPI (the host-nic machine), driver costs per packet and per byte (the software checksum of connected mode) on the host's core.",
    module: 'model/ipoib.ts (nativeIpoibRunners: rtt, udpGoodput, tcpThroughput, mpi)',
    role: 'baseline',
  }),
  infiniband({
    id: 'vnet-ipoib',
    title: 'VNET/P over IPoIB',
    about:
      "The guest's TCP/IP through the VNET/P Ethernet overlay carried over the host's IPoIB: guest and overlay both do reliability (the semantic gap of §3.3).",
    machines: [...VNETP_MACHINES, 'queue-pair'],
    assembly:
      'the VNET/P path (guest virtio MTU 9000) with the bridge sending its UDP datagrams over the IPoIB device of native-ipoib (host MTU 65520, so a guest frame is never fragmented).',
    module: 'model/ipoib.ts (vnetIpoibRunners: rtt, udpGoodput, tcpThroughput, mpi)',
    role: 'baseline',
  }),
  infiniband({
    id: 'vnet-vtoe',
    title: 'VNET+VTOE',
    about: "The guest's TCP offloaded through the VTOE NIC onto shadow RC connections, zero copy (§4.6, §5.3). Its results are predictions and will never be fitted.",
    machines: ['guest-socket', 'vtoe-nic', 'connection-agent', 'shadow-connection', 'queue-pair'],
    assembly:
      'guest sockets post VWQEs to the VTOE NIC (doorbell VM exits, event-queue virtual interrupts); connection agents map SIDs to shadow CIDs over rdma_cm and post the guest buffers to RC queue pairs on the InfiniBand fabric without a copy.',
    module: 'model/vtoe-runs.ts (vtoeRunners: tcpThroughput, mpi, hpcc)',
    role: 'prediction',
  }),
];

export const configurationIds: readonly string[] = configurations.map((c) => c.id);

export function builtConfigurations(): readonly BuiltConfiguration[] {
  return configurations.filter((c): c is BuiltConfiguration => c.status === 'built');
}

/** The configuration with `id`, or an error listing the known ones. */
export function configuration(id: string): Configuration {
  const c = configurations.find((x) => x.id === id);
  if (!c) throw new Error(`no configuration "${id}"; known: ${configurationIds.join(', ')}`);
  return c;
}
