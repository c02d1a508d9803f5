/**
 * Cost parameters of the full-system model, as data.
 *
 * Every cost is a named parameter with a value, a unit, the allowed range for overrides, a source
 * (dissertation section, calibration.md row, or the standard that fixes it) and a basis:
 *
 * - `given`: fixed by a source (a measured figure the dissertation reports, a testbed fact, a
 *   header size from a standard);
 * - `derived`: computed from other parameters (override those instead);
 * - `fitted`: not fixed by any source. Its value is an **initial guess**, to be fitted later to
 *   the calibration.md rows listed in `fitTo`, and only to those (calibration.md: fit the
 *   baselines, let the optimized configurations fall where the mechanism puts them).
 *
 * Nothing here is a measurement of ours. `checkCosts(overrides)` validates overrides and returns
 * the complete, frozen set of values.
 */

export type CostUnit = 'Hz' | 'cycles' | 'bit/s' | 'bytes' | 'cycles/byte' | 'cycles/packet' | 'ns' | 'ratio';

interface CostCommon {
  readonly unit: CostUnit;
  readonly description: string;
  readonly source: string;
  /** Smallest value an override may take (inclusive). */
  readonly min: number;
  /** Largest value an override may take (inclusive). */
  readonly max: number;
  readonly integer: boolean;
}

export interface GivenCost extends CostCommon {
  readonly basis: 'given';
  readonly fitted: false;
  readonly value: number;
}

export interface FittedCost extends CostCommon {
  readonly basis: 'fitted';
  readonly fitted: true;
  /** The initial guess, not a measurement. */
  readonly value: number;
  /** calibration.md rows a fit may use; empty when no baseline constrains it. */
  readonly fitTo: readonly string[];
  /** Where the initial guess comes from and what the fit must respect. */
  readonly note: string;
}

export interface DerivedCost extends CostCommon {
  readonly basis: 'derived';
  readonly fitted: false;
  /** The parameters it is computed from. */
  readonly from: readonly string[];
  readonly derive: (c: Readonly<Record<string, number>>) => number;
}

export type CostSpec = GivenCost | FittedCost | DerivedCost;

type Common = Omit<CostCommon, 'integer'> & { readonly integer?: boolean };

const given = (value: number, c: Common): GivenCost => ({ basis: 'given', fitted: false, value, integer: true, ...c });
const fitted = (value: number, c: Common & { fitTo: readonly string[]; note: string }): FittedCost => ({
  basis: 'fitted',
  fitted: true,
  value,
  integer: true,
  ...c,
});
const derived = (
  from: readonly string[],
  derive: (c: Readonly<Record<string, number>>) => number,
  c: Common,
): DerivedCost => ({ basis: 'derived', fitted: false, from, derive, integer: true, ...c });

const CAL_COSTS = 'calibration.md "Cost figures from the analysis"';
const CAL_TESTBED = 'calibration.md "Testbed (section 6.1)"';
const IEEE_8023 = 'IEEE 802.3-2018';

/** calibration.md baseline rows, by the words a fit would quote. */
const ROW = {
  rttNative10G: 'ICMP round trip, small packets: Native-10G 58 us',
  rttPassthrough10G: 'ICMP round trip, small packets: Passthrough-10G 65 us',
  rttVnetp10G: 'ICMP round trip, small packets: VNET/P-10G about 130 us',
  rttRatios: 'ICMP round trip: VNET/P vs Native about 2x at 1 Gbps, 3x at 10 Gbps',
  udp10G: 'VNET/P, 10 Gbps, MTU 1500: UDP goodput 74% of Native-10G',
  tcp10G: 'VNET/P, 10 Gbps, MTU 1500: TCP throughput 78% of Native-10G',
  jumbo10G: 'VNET/P, 10 Gbps, MTU 9000: higher than with MTU 1500; over 10x VNET/U',
  vnetp1G: 'VNET/P, 1 Gbps, MTU 1500: same as Native-1G',
  vnetu: 'VNET/U, 1 Gbps: 71 MB/s, 0.88 ms',
  vnetuRatio: 'VNET/P vs VNET/U, 1 Gbps, MTU 1500: about 8x',
  mpiLatency: 'MPI PingPong 10 Gbps MTU 9000: VNET/P one-way about 55 us, 2.5x Native',
  variability: 'ICMP variability, 64 bytes, 5000 pings: VNET/P large latency bursts every few hundred iterations',
} as const;

/** The cost table. Order matters only for derived parameters: each follows what it uses. */
export const costParams = {
  // ---- CPU -------------------------------------------------------------------------------------
  cpuHz: given(2_300_000_000, {
    unit: 'Hz',
    min: 100_000_000,
    max: 10_000_000_000,
    description: 'Core clock of the AMD Opteron 2376 hosts; every cycle cost is converted to time at this rate.',
    source: `${CAL_TESTBED} CPU (2.3 GHz, DVFS off); §3.2.1 ("AMD cluster")`,
  }),

  // ---- Virtualization costs (chapter 3) ----------------------------------------------------------
  trapEmulateCycles: given(5_000, {
    unit: 'cycles',
    min: 1,
    max: 10_000_000,
    description: 'One trap-and-emulate of an interrupt-controller register access.',
    source: `§3.2.1; ${CAL_COSTS} row 1`,
  }),
  virtualInterruptMinCycles: derived(['trapEmulateCycles'], (c) => 2 * c.trapEmulateCycles, {
    unit: 'cycles',
    min: 1,
    max: 20_000_000,
    description: 'Least latency a virtual interrupt adds: two interrupt-controller traps (10,000 cycles with the given trap cost).',
    source: `§3.2.1 ("at least 10K cycles"); ${CAL_COSTS} row 2`,
  }),
  vmExitEntryMinCycles: given(10_000, {
    unit: 'cycles',
    min: 1,
    max: 100_000_000,
    description: 'Shortest average processing from a VM exit to the next VM entry in Palacios.',
    source: `§3.2.1; ${CAL_COSTS} row 3`,
  }),
  vmExitEntryMaxCycles: given(200_000, {
    unit: 'cycles',
    min: 1,
    max: 100_000_000,
    description: 'Longest average processing from a VM exit to the next VM entry in Palacios.',
    source: `§3.2.1; ${CAL_COSTS} row 3`,
  }),
  vmExitEntryCycles: fitted(20_000, {
    unit: 'cycles',
    min: 1,
    max: 100_000_000,
    description: 'VM exit to next VM entry for the exits on the network path (the I/O port write of a kick, §5.1.6). Must lie within the given range.',
    source: '§3.2.1 (range), §5.1.6 (the kick returns "within a VM exit/entry time")',
    fitTo: [ROW.rttPassthrough10G, ROW.rttVnetp10G, ROW.udp10G, ROW.tcp10G],
    note: 'Initial guess near the low end of the 10K-200K range; not a measurement.',
  }),
  irqToHandlerCycles: given(40_000, {
    unit: 'cycles',
    min: 1,
    max: 100_000_000,
    description: "From the virtual interrupt being raised to the guest driver's interrupt handler being invoked (T0-T2).",
    source: `§3.2.1, Figure 3.1; ${CAL_COSTS} row 4`,
  }),
  guestRxStartMinCycles: given(430_000, {
    unit: 'cycles',
    min: 1,
    max: 1_000_000_000,
    description: 'Shortest time until the guest starts processing the vNIC receive queue (T4-T6).',
    source: `§3.2.1, Figure 3.1; ${CAL_COSTS} row 5`,
  }),
  guestRxStartMaxCycles: given(25_000_000, {
    unit: 'cycles',
    min: 1,
    max: 1_000_000_000,
    description: 'Longest time until the guest starts processing the vNIC receive queue (T4-T6).',
    source: `§3.2.1, Figure 3.1; ${CAL_COSTS} row 5`,
  }),
  hostArrivalToVnicCycles: given(20_000_000, {
    unit: 'cycles',
    min: 1,
    max: 1_000_000_000,
    description: 'From the host NIC driver seeing an arrival to the first packet of a train being de-encapsulated and routed into the vNIC receive queue (typical; varies like T4-T6).',
    source: `§4.3.1; ${CAL_COSTS} row 6`,
  }),

  // ---- Links (testbed) ---------------------------------------------------------------------------
  link1GbpsBitRate: given(1_000_000_000, {
    unit: 'bit/s',
    min: 1_000_000,
    max: 1_000_000_000_000,
    description: 'MAC data rate of the 1 Gbps Ethernet NIC (nVidia MCP55 Forcedeth).',
    source: `${CAL_TESTBED} 1 Gbps NIC`,
  }),
  link10GbpsBitRate: given(10_000_000_000, {
    unit: 'bit/s',
    min: 1_000_000,
    max: 1_000_000_000_000,
    description: 'MAC data rate of the 10 Gbps Ethernet NIC (NetEffect NE020 10GBASE-SR).',
    source: `${CAL_TESTBED} 10 Gbps NIC`,
  }),
  ibSignalingBitRate: given(40_000_000_000, {
    unit: 'bit/s',
    min: 1_000_000,
    max: 1_000_000_000_000,
    description: 'InfiniBand 4x QDR signalling rate (Mellanox MT26428 HCA, MTS3600 20/40 Gbps switch).',
    source: `${CAL_TESTBED} InfiniBand`,
  }),
  ibEncodingEfficiency: given(0.8, {
    unit: 'ratio',
    min: 0.01,
    max: 1,
    integer: false,
    description: 'Data bits per signalled bit: 8b/10b line coding of SDR/DDR/QDR InfiniBand.',
    source: 'IBTA InfiniBand Architecture Specification Vol. 2 (physical layer, 8b/10b encoding)',
  }),
  ibDataBitRate: derived(['ibSignalingBitRate', 'ibEncodingEfficiency'], (c) => Math.round(c.ibSignalingBitRate * c.ibEncodingEfficiency), {
    unit: 'bit/s',
    // Any rate the signalling rate and efficiency ranges allow.
    min: 1,
    max: 1_000_000_000_000,
    description: 'Effective InfiniBand data rate after line coding (32 Gbps for 4x QDR).',
    source: `${CAL_TESTBED} InfiniBand; IBTA Vol. 2 8b/10b`,
  }),

  // ---- MTUs (testbed) ----------------------------------------------------------------------------
  ethernetMtuBytes: given(1_500, {
    unit: 'bytes',
    min: 68,
    max: 65_535,
    description: 'Standard Ethernet MTU (largest MAC client data); the MTU of the "MTU 1500" baseline rows and the most the 1 Gbps NIC supports.',
    source: `${CAL_TESTBED} 1 Gbps NIC ("MTU up to 1500"); ${IEEE_8023} §3.2.7 (MAC client data up to 1500 octets), §4.4.2 (maxUntaggedFrameSize 1518)`,
  }),
  jumboMtuBytes: given(9_000, {
    unit: 'bytes',
    min: 68,
    max: 65_535,
    description: 'Largest MTU of the 10 Gbps NIC, and the MTU of the guest virtio NIC.',
    source: `${CAL_TESTBED} 10 Gbps NIC ("MTU up to 9000"), guest ("virtio MTU 9000")`,
  }),
  ibUdMtuBytes: given(2_048, {
    unit: 'bytes',
    min: 256,
    max: 4_096,
    description: 'InfiniBand Unreliable Datagram MTU of the MLX4 HCA.',
    source: `${CAL_TESTBED} InfiniBand ("UD datagram MTU 2 KB"); §3.3.1`,
  }),
  ipoibMtuBytes: given(65_520, {
    unit: 'bytes',
    min: 68,
    max: 65_535,
    description: 'IPoIB (connected mode) MTU.',
    source: `${CAL_TESTBED} InfiniBand ("IPoIB MTU 65520")`,
  }),

  // ---- Header sizes (standards) ------------------------------------------------------------------
  ethHeaderBytes: given(14, {
    unit: 'bytes',
    min: 14,
    max: 22,
    description: 'Ethernet MAC header: destination address 6, source address 6, Length/Type 2 (no VLAN tag).',
    source: `${IEEE_8023} §3.1.1`,
  }),
  ethFcsBytes: given(4, {
    unit: 'bytes',
    min: 4,
    max: 4,
    description: 'Ethernet frame check sequence (CRC-32).',
    source: `${IEEE_8023} §3.1.1, §3.2.9`,
  }),
  ethPreambleSfdBytes: given(8, {
    unit: 'bytes',
    min: 8,
    max: 8,
    description: 'Preamble (7 bytes) and start frame delimiter (1 byte) sent before every frame.',
    source: `${IEEE_8023} §3.2.1, §3.2.2`,
  }),
  ethIfgBytes: given(12, {
    unit: 'bytes',
    min: 0,
    max: 64,
    description: 'Minimum inter-packet gap: 96 bit times of idle between frames.',
    source: `${IEEE_8023} §4.4.2 (interPacketGap 96 bits)`,
  }),
  ethMinFrameBytes: given(64, {
    unit: 'bytes',
    min: 64,
    max: 64,
    description: 'Minimum frame from destination address through FCS; shorter frames are padded.',
    source: `${IEEE_8023} §4.4.2 (minFrameSize 512 bits)`,
  }),
  ipv4HeaderBytes: given(20, {
    unit: 'bytes',
    min: 20,
    max: 60,
    description: 'IPv4 header without options (IHL = 5).',
    source: 'RFC 791 §3.1',
  }),
  udpHeaderBytes: given(8, {
    unit: 'bytes',
    min: 8,
    max: 8,
    description: 'UDP header.',
    source: 'RFC 768',
  }),
  tcpHeaderBytes: given(20, {
    unit: 'bytes',
    min: 20,
    max: 20,
    description: 'TCP header without options (data offset 5).',
    source: 'RFC 9293 §3.1',
  }),
  tcpOptionsBytes: given(12, {
    unit: 'bytes',
    min: 0,
    max: 40,
    description: 'TCP options on every data segment: the timestamps option (10 bytes) padded to 12, which Linux enables by default.',
    source: 'RFC 7323 §3; Linux net.ipv4.tcp_timestamps default 1',
  }),
  virtioNetHeaderBytes: given(12, {
    unit: 'bytes',
    min: 10,
    max: 12,
    description: 'virtio_net_hdr in front of each frame in the guest rings: 12 bytes with mergeable receive buffers, which the original always uses.',
    source: 'palacios-notes.md §3.3; virtio 1.x "Device Operation"',
  }),
  vnetEncapBytes: derived(['ethHeaderBytes', 'ipv4HeaderBytes', 'udpHeaderBytes'], (c) => c.ethHeaderBytes + c.ipv4HeaderBytes + c.udpHeaderBytes, {
    unit: 'bytes',
    min: 0,
    max: 200,
    description: 'Bytes VNET/P adds around a guest frame: the whole frame is the payload of one UDP datagram (outer Ethernet, IPv4, UDP headers; no VNET header).',
    source: 'palacios-notes.md §4 ("Encapsulation = plain UDP"); §5.1.4',
  }),

  // ---- Per-byte and per-packet processing (fitted) -----------------------------------------------
  copyCyclesPerByte: fitted(1, {
    unit: 'cycles/byte',
    min: 0,
    max: 1_000,
    integer: false,
    description: 'One memory copy of packet data (the single copy inside the VMM on transmit, §5.1.6, and the copy into guest receive buffers).',
    source: '§5.1.6 ("copied only once inside the VMM"); §4.4',
    fitTo: [ROW.udp10G, ROW.tcp10G, ROW.jumbo10G],
    note: 'Initial guess of about 2.3 GB/s per core; not a measurement.',
  }),
  guestStackCyclesPerPacket: fitted(5_000, {
    unit: 'cycles/packet',
    min: 0,
    max: 100_000_000,
    description: "Per-packet cost of the Linux 2.6.30 TCP/IP stack, in the guest (and, as the same stack, in the Native configurations' host), excluding data copies.",
    source: 'calibration.md Testbed (guest Linux 2.6.30); §3.3.2 (guest stack processing)',
    fitTo: [ROW.rttNative10G, ROW.udp10G, ROW.tcp10G],
    note: 'Initial guess (about 2 us per packet); not a measurement.',
  }),
  guestChecksumCyclesPerByte: fitted(0.5, {
    unit: 'cycles/byte',
    min: 0,
    max: 100,
    integer: false,
    description:
      "The guest stack's software Internet checksum (RFC 1071) over each frame it sends or receives through the virtio NIC, which offers no checksum offload; the Native and Passthrough stacks use the physical NIC's offload and pay none.",
    source: 'palacios-notes.md §3 (virtio host features MAC | MRG_RXBUF only: no CSUM, no GSO/TSO); calibration.md Testbed (NetEffect NE020)',
    fitTo: [ROW.udp10G, ROW.tcp10G],
    note: 'Initial guess (an optimized csum_partial, about 2 bytes per cycle); not a measurement.',
  }),
  guestStackCyclesPerMessage: fitted(10_000, {
    unit: 'cycles',
    min: 0,
    max: 100_000_000,
    description:
      'Per-message cost of the guest (or native) stack around an application: the system call of a send, the wakeup and system call of a receive that completes a datagram the application reads. Charged once per message, not per packet.',
    source: 'calibration.md Testbed (guest Linux 2.6.30); §3.3.2',
    fitTo: [ROW.rttNative10G, ROW.udp10G, ROW.tcp10G],
    note: 'Initial guess (about 4 us, a system call and a process wakeup); not a measurement. The round trips constrain its sum with guestStackCyclesPerPacket, the throughput rows their split.',
  }),
  dispatcherYieldNs: fitted(2_000, {
    unit: 'ns',
    min: 0,
    max: 100_000_000,
    description: 'One immediate yield of the VNET/P dispatcher thread in VMM-driven mode: from giving up the core to its next poll round (one host scheduling round on an otherwise idle core).',
    source: '§5.1.2 (VMM-driven mode), §5.1.7 (immediate yield)',
    fitTo: [],
    note: 'Initial guess; no baseline row separates it (it only adds to the latency of a frame queued while the thread yields).',
  }),
  hostUdpCyclesPerPacket: fitted(5_000, {
    unit: 'cycles/packet',
    min: 0,
    max: 100_000_000,
    description: 'Per-datagram cost of the VNET/P bridge sending or receiving the encapsulating UDP datagram through the host Linux stack, excluding copies.',
    source: '§5.1.4; palacios-notes.md §4 (sock_sendmsg / recvmsg in the bridge)',
    fitTo: [ROW.rttVnetp10G, ROW.udp10G, ROW.tcp10G],
    note: 'Initial guess; not a measurement.',
  }),
  vnetCoreCyclesPerPacket: fitted(2_000, {
    unit: 'cycles/packet',
    min: 0,
    max: 100_000_000,
    description: 'Per-packet cost of the VNET/P core: routing table lookup and hand-off between virtual NIC, dispatcher and bridge.',
    source: '§5.1.2, §5.1.6; palacios-notes.md §1.4',
    fitTo: [ROW.rttVnetp10G, ROW.udp10G, ROW.tcp10G, ROW.vnetp1G],
    note: 'Initial guess; not a measurement.',
  }),
  hostIrqToPollCycles: fitted(5_000, {
    unit: 'cycles',
    min: 0,
    max: 100_000_000,
    description: "Host NIC interrupt to its NAPI poll running (hard IRQ, softirq scheduling) in the host kernel.",
    source: 'protocol-notes.md §6 (NAPI contract); §3.2.3',
    fitTo: [ROW.rttNative10G, ROW.rttVnetp10G],
    note: 'Initial guess (about 2 us); not a measurement.',
  }),
  wirePropagationNs: fitted(500, {
    unit: 'ns',
    min: 0,
    max: 1_000_000,
    integer: true,
    description: 'Propagation over the cables and one switch hop between the two hosts, beyond serialization.',
    source: 'calibration.md Testbed (NICs directly connected or through one switch)',
    fitTo: [ROW.rttNative10G],
    note: 'Initial guess; not a measurement.',
  }),
  vnetuWakeupNs: fitted(100_000, {
    unit: 'ns',
    min: 0,
    max: 100_000_000,
    description:
      'Scheduling latency of the VNET/U daemon: from a frame reaching it (TAP device or UDP socket readable) while it was blocked to it running. Latency, not CPU time: a busy daemon pays none.',
    source: '§3.1 (user-level overlay: kernel/user transitions and scheduling)',
    fitTo: [ROW.vnetu, ROW.vnetuRatio],
    note: 'Initial guess; not a measurement. The latency row fits it, the throughput row the per-crossing cost.',
  }),
  vnetuContextSwitchCycles: fitted(20_000, {
    unit: 'cycles',
    min: 0,
    max: 100_000_000,
    description: 'One kernel/user transition pair of the user-level overlay VNET/U (register save/restore, scheduler, TLB and pipeline effects).',
    source: '§3.1',
    fitTo: [ROW.vnetu, ROW.vnetuRatio],
    note: 'Initial guess; not a measurement.',
  }),

  // ---- Host noise (§3.2.3, §4.5) -----------------------------------------------------------------
  linuxNoiseMeanIntervalNs: fitted(1_000_000_000, {
    unit: 'ns',
    min: 1,
    max: 1_000_000_000_000,
    description: 'Mean time between host noise events (timer ticks, daemons, preemption) on a Linux host, taken as exponential.',
    source: '§3.2.3 (OS noise), §4.5',
    fitTo: [ROW.variability],
    note: 'Initial guess; not a measurement.',
  }),
  linuxNoiseDurationNs: fitted(1_000_000, {
    unit: 'ns',
    min: 0,
    max: 1_000_000_000_000,
    description: 'How long one Linux host noise event holds the core.',
    source: '§3.2.3, §4.5',
    fitTo: [ROW.variability],
    note: 'Initial guess; not a measurement.',
  }),
  lwkNoiseMeanIntervalNs: fitted(10_000_000_000, {
    unit: 'ns',
    min: 1,
    max: 1_000_000_000_000,
    description: 'Mean time between host noise events on the lightweight kernel (Kitten).',
    source: '§4.5; §5.2 (VNET/P+ runs on Kitten)',
    fitTo: [],
    note:
      'Initial guess. No baseline row constrains it: the Kitten results (VNET/P+) are kept aside, so it must stay a stated assumption and never be fitted to them. §4.5 says only that it is quieter than Linux, which checkCosts enforces.',
  }),
  lwkNoiseDurationNs: fitted(10_000, {
    unit: 'ns',
    min: 0,
    max: 1_000_000_000_000,
    description: 'How long one lightweight-kernel noise event holds the core.',
    source: '§4.5',
    fitTo: [],
    note: 'Initial guess; an assumption for the same reason as lwkNoiseMeanIntervalNs.',
  }),

  // ---- InfiniBand hosts (session 2) ----------------------------------------------------------------
  // IB fabric and the native verbs / SDP hosts (model/ib-fabric.ts, model/ib-verbs-paths.ts).
  ibPcieDataBitRate: given(16_000_000_000, {
    unit: 'bit/s',
    min: 1_000_000,
    max: 1_000_000_000_000,
    description:
      "Data rate per direction of the HCA's PCI Express link: 8 lanes x 2.5 GT/s x 8b/10b. The MT26428 is a PCIe 2.0 x8 part, but the hosts' nVidia MCP55 chipset (whose on-board NIC is the testbed's 1 Gbps Forcedeth) offers PCIe 1.0a, so the link trains at 2.5 GT/s. An inference from the testbed parts, not a reported figure.",
    source: `${CAL_TESTBED} (MCP55 Forcedeth NIC, MT26428 HCA); PCI Express Base 1.0a (2.5 GT/s, 8b/10b)`,
  }),
  ibPcieTlpPayloadBytes: fitted(128, {
    unit: 'bytes',
    min: 64,
    max: 4_096,
    description: 'PCIe Max_Payload_Size: payload bytes per DMA transaction layer packet of the HCA (each carries ibPcieTlpOverheadBytes more).',
    source: 'PCI Express Base 1.0a §2.2 (Max_Payload_Size 128..4096)',
    fitTo: ['TCP over InfiniBand (ttcp): Native+SDP uni-stream 10 Gbps, and 10 Gbps per stream in the bi-stream test'],
    note: 'Initial guess: 128 bytes, the usual setting of chipsets of that generation; the testbed value is not reported.',
  }),
  ibPcieTlpOverheadBytes: given(24, {
    unit: 'bytes',
    min: 0,
    max: 64,
    description: 'Bytes each PCIe DMA TLP adds to its payload: 4-DW header with 64-bit address (16), sequence number (2), LCRC (4), start/end framing (2). DLLP traffic (ACKs, flow-control updates) is not counted.',
    source: 'PCI Express Base 1.0a §2.2.1 (TLP header), §3.5 (sequence number, LCRC), §4.2 (framing symbols)',
  }),
  ibHcaTxNs: fitted(500, {
    unit: 'ns',
    min: 0,
    max: 1_000_000,
    description: 'HCA send-side latency of a work request: doorbell write, WQE fetch over PCIe and the start of the first data read, before the first packet can go on the wire.',
    source: 'model/ib-fabric.ts; PCI Express 1.0a round trips on the host bus',
    fitTo: ['HPCC ping-pong, InfiniBand: Native+IPoIB 5-12x the latency of Native+Uverbs, 40-60% of its bandwidth'],
    note: 'Initial guess (half a microsecond: one PCIe read round trip plus processing); not a measurement.',
  }),
  ibHcaRxNs: fitted(250, {
    unit: 'ns',
    min: 0,
    max: 1_000_000,
    description: 'HCA receive-side latency from the last packet of a message being in host memory to its completion queue entry being written.',
    source: 'model/ib-fabric.ts',
    fitTo: ['HPCC ping-pong, InfiniBand: Native+IPoIB 5-12x the latency of Native+Uverbs, 40-60% of its bandwidth'],
    note: 'Initial guess; not a measurement.',
  }),
  ibSwitchLatencyNs: given(100, {
    unit: 'ns',
    min: 0,
    max: 1_000_000,
    description: 'Port-to-port (cut-through) latency of the MTS3600 switch (InfiniScale IV).',
    source: `${CAL_TESTBED} (Mellanox MTS3600); Mellanox MTS3600 / InfiniScale IV product brief ("100 ns" port-to-port)`,
  }),
  ibLinkPropagationNs: fitted(10, {
    unit: 'ns',
    min: 0,
    max: 1_000_000,
    description: 'Propagation over one HCA-switch cable (about 5 ns per metre of copper).',
    source: `${CAL_TESTBED} (cable lengths not reported)`,
    fitTo: [],
    note: 'An assumption (2 m cables), not fitted: it is small against every other term.',
  }),
  ibVerbsPostCycles: fitted(500, {
    unit: 'cycles',
    min: 0,
    max: 100_000_000,
    description: 'User-space ibv_post_send or ibv_post_recv of one work request (build the WQE, memory barrier, doorbell MMIO write).',
    source: 'libibverbs/libmlx4 post path; model/ib-verbs-paths.ts',
    fitTo: ['HPCC ping-pong, InfiniBand: Native+IPoIB 5-12x the latency of Native+Uverbs, 40-60% of its bandwidth'],
    note: 'Initial guess (about 0.2 us); not a measurement.',
  }),
  ibVerbsPollCycles: fitted(250, {
    unit: 'cycles',
    min: 0,
    max: 100_000_000,
    description: 'ibv_poll_cq of one completion entry (read the CQE from host memory, update the consumer index).',
    source: 'libibverbs/libmlx4 poll path; model/ib-verbs-paths.ts',
    fitTo: ['HPCC ping-pong, InfiniBand: Native+IPoIB 5-12x the latency of Native+Uverbs, 40-60% of its bandwidth'],
    note: 'Initial guess (about 0.1 us); not a measurement.',
  }),
  mpiOpenibEagerLimitBytes: given(12_288, {
    unit: 'bytes',
    min: 0,
    max: 1_048_576,
    description: "OpenMPI openib BTL eager limit: larger messages use the rendezvous protocol (RDMA).",
    source: 'OpenMPI 1.3 btl_openib_eager_limit default (12 KiB); calibration.md MPI rows (IMB 3.2.2, OpenMPI 1.3)',
  }),
  mpiMessageCycles: fitted(1_500, {
    unit: 'cycles',
    min: 0,
    max: 100_000_000,
    description: 'OpenMPI per-message software cost on one side (PML request, matching, BTL fragment header), excluding copies and verbs calls.',
    source: 'model/ib-verbs-paths.ts (ob1 PML over the openib BTL)',
    fitTo: [
      'HPCC ping-pong, InfiniBand: Native+IPoIB 5-12x the latency of Native+Uverbs, 40-60% of its bandwidth',
      'MPI over InfiniBand, large messages: Native+IPoIB about 47% of Native+Uverbs',
    ],
    note: 'Initial guess (about 0.65 us); not a measurement.',
  }),
  sdpZcopyThresholdBytes: given(65_536, {
    unit: 'bytes',
    min: 0,
    max: 1_048_576,
    description: 'SDP zero-copy threshold: a send() of at least this many bytes goes zero-copy (SrcAvail, the sink RDMA-reads the user buffer); smaller ones are copied through the private buffers (bcopy).',
    source: 'OFED ib_sdp sdp_main.c module parameter sdp_zcopy_thresh (default 65536)',
  }),
  sdpBufferBytes: given(32_768, {
    unit: 'bytes',
    min: 1_024,
    max: 1_048_576,
    description: 'Payload of one SDP private (bcopy) buffer: one receive buffer per credit.',
    source: 'OFED ib_sdp sdp.h (SDP_MAX_SEND_SKB_FRAGS x PAGE_SIZE = 32 KiB of fragments per buffer, 64 buffers per ring)',
  }),
  sdpMessageCycles: fitted(3_000, {
    unit: 'cycles',
    min: 0,
    max: 100_000_000,
    description: 'SDP per-buffer host cost on one side: socket call share, BSDH header, posting the work request or taking the completion, credit update; excludes the copy.',
    source: 'OFED ib_sdp sdp_bcopy.c / sdp_tx.c / sdp_rx.c',
    fitTo: ['TCP over InfiniBand (ttcp): Native+SDP uni-stream 10 Gbps, and 10 Gbps per stream in the bi-stream test'],
    note: 'Initial guess (about 1.3 us); not a measurement.',
  }),
  vtoeSocketCyclesPerOp: fitted(3_000, {
    unit: 'cycles',
    min: 0,
    max: 100_000_000,
    description:
      'Guest cost of one VNET socket operation (§5.3.2): the send()/recv() system call through the AF_INET_VNET socket module, building a VWQE or taking a completion; no TCP/IP processing and no data copy.',
    source: '§5.3.2 (VNET socket provider and VTOE socket module); §4.6.3 (VWQEs)',
    fitTo: [],
    note:
      'Initial guess (about 1.3 us: a system call and a socket-layer pass). No baseline row constrains it: it occurs only in VNET+VTOE, whose results are kept aside and must not be used to fit it.',
  }),
  vtoeAgentCyclesPerWqe: fitted(2_000, {
    unit: 'cycles',
    min: 0,
    max: 100_000_000,
    description:
      'VMM cost of the connection agent per VWQE and per completion (§4.6.2, §5.3.1): map SID to CID (or back) and post the guest buffer on the shadow RC queue pair (or take its completion), without copying data.',
    source: '§4.6.2 (VNET_Core_CA maps SIDs and CIDs, provides receive buffers); §5.3.1 "Transmission with zero overlay copy"',
    fitTo: [],
    note:
      'Initial guess (a table lookup and a verbs post or poll, under 1 us). No baseline row constrains it: only VNET+VTOE uses it, and its results are kept aside.',
  }),
  // IPoIB host driver (model/ipoib.ts), connected mode (RFC 4755) as the 65520-byte MTU implies.
  ipoibHeaderBytes: given(4, {
    unit: 'bytes',
    min: 4,
    max: 4,
    description: 'IPoIB encapsulation header in front of every IP packet: EtherType (2 bytes) and 2 reserved bytes; the same header in datagram and connected mode.',
    source: 'RFC 4391 §6 ("IPoIB encapsulation header"); RFC 4755 §4 (connected mode uses the same encapsulation)',
  }),
  ipoibTxCyclesPerPacket: fitted(10_000, {
    unit: 'cycles/packet',
    min: 0,
    max: 100_000_000,
    description:
      'IPoIB driver transmit of one IP packet (ipoib_cm_send): neighbour lookup, IPoIB header, DMA mapping of the one-segment skb, posting the RC send work request and ringing the doorbell; excludes the stack and the checksum.',
    source: 'Linux drivers/infiniband/ulp/ipoib/ipoib_cm.c (2.6.30: one SGE per send, every send signalled); RFC 4755',
    fitTo: [
      'MPI over InfiniBand, large messages: Native+IPoIB about 47% of Native+Uverbs',
      'MPI over InfiniBand, large messages: VNET+IPoIB about 28% of Native+Uverbs',
      'HPCC ping-pong, InfiniBand: Native+IPoIB 5-12x the latency of Native+Uverbs, 40-60% of its bandwidth',
    ],
    note: 'Initial guess (about 4 us); not a measurement.',
  }),
  ipoibRxCyclesPerPacket: fitted(10_000, {
    unit: 'cycles/packet',
    min: 0,
    max: 100_000_000,
    description:
      'IPoIB driver receive of one IP packet in its NAPI poll (ipoib_cm_handle_rx_wc): the completion, a fresh receive buffer posted to the shared receive queue, stripping the IPoIB header, netif_receive_skb; excludes the stack and the checksum.',
    source: 'Linux drivers/infiniband/ulp/ipoib/ipoib_cm.c (receive through an SRQ, NAPI poll ipoib_poll)',
    fitTo: [
      'MPI over InfiniBand, large messages: Native+IPoIB about 47% of Native+Uverbs',
      'MPI over InfiniBand, large messages: VNET+IPoIB about 28% of Native+Uverbs',
      'HPCC ping-pong, InfiniBand: Native+IPoIB 5-12x the latency of Native+Uverbs, 40-60% of its bandwidth',
    ],
    note: 'Initial guess (about 4 us); not a measurement.',
  }),
  ipoibIrqToPollCycles: fitted(5_000, {
    unit: 'cycles',
    min: 0,
    max: 100_000_000,
    description:
      "IPoIB completion interrupt to its NAPI poll running: the HCA's event queue interrupt (mlx4 EQ), the CQ completion callback (ipoib_ib_completion) scheduling NAPI, the softirq. The Ethernet NIC's hostIrqToPollCycles is fitted to Ethernet rows and holds that NIC's driver; this is the IPoIB one.",
    source: 'Linux mlx4 EQ interrupt and ipoib_ib_completion -> napi_schedule; protocol-notes.md §6 (NAPI contract)',
    fitTo: ['HPCC ping-pong, InfiniBand: Native+IPoIB 5-12x the latency of Native+Uverbs, 40-60% of its bandwidth'],
    note: 'Initial guess (about 2 us); not a measurement.',
  }),
  ipoibTxCompletionCyclesPerPacket: fitted(2_000, {
    unit: 'cycles/packet',
    min: 0,
    max: 100_000_000,
    description:
      'IPoIB driver handling of one send completion (ipoib_cm_handle_tx_wc: unmap, free the skb, wake the queue), in the same NAPI poll as receives: connected-mode send queues complete on the receive CQ.',
    source: 'Linux ipoib_cm.c ipoib_cm_create_tx_qp (send_cq = recv_cq = priv->recv_cq, IB_SIGNAL_ALL_WR in 2.6.x)',
    fitTo: ['TCP over InfiniBand: Native+IPoIB bi-stream each stream drops to half the wire capacity'],
    note: 'Initial guess (under 1 us); not a measurement.',
  }),
  ipoibChecksumCyclesPerByte: fitted(1, {
    unit: 'cycles/byte',
    min: 0,
    max: 1_000,
    integer: false,
    description:
      'Software checksum of every byte sent and received over IPoIB connected mode, which offers no checksum offload (the Ethernet NICs offload it); charged once on transmit and once on receive, on the IPoIB driver core.',
    source: 'Linux ipoib_cm.c (2.6.30 connected mode clears NETIF_F_IP_CSUM/SG/TSO); Documentation/infiniband/ipoib.rst',
    fitTo: [
      'MPI over InfiniBand, large messages: Native+IPoIB about 47% of Native+Uverbs',
      'MPI over InfiniBand, large messages: VNET+IPoIB about 28% of Native+Uverbs',
      'HPCC ping-pong, InfiniBand: Native+IPoIB 5-12x the latency of Native+Uverbs, 40-60% of its bandwidth',
      'TCP over InfiniBand: Native+IPoIB bi-stream each stream drops to half the wire capacity',
    ],
    note: 'Initial guess (about 2.3 GB/s per core, like one copy); not a measurement.',
  }),
} as const satisfies Record<string, CostSpec>;

export type CostName = keyof typeof costParams;
/** Complete cost values, each in its parameter's unit. */
export type Costs = Readonly<Record<CostName, number>>;
/** Overrides: a number in the parameter's unit, or `{ value, unit }` with the unit spelt out. */
export type CostOverrides = Partial<Record<string, number | { readonly value: number; readonly unit: string }>>;

export const costNames = Object.keys(costParams) as CostName[];

/** Relations between parameters that their ranges alone cannot say. */
export const costRules: readonly { readonly names: readonly CostName[]; readonly says: string; readonly holds: (c: Costs) => boolean }[] = [
  {
    names: ['vmExitEntryMinCycles', 'vmExitEntryCycles', 'vmExitEntryMaxCycles'],
    says: 'vmExitEntryMinCycles <= vmExitEntryCycles <= vmExitEntryMaxCycles (§3.2.1 gives the range)',
    holds: (c) => c.vmExitEntryMinCycles <= c.vmExitEntryCycles && c.vmExitEntryCycles <= c.vmExitEntryMaxCycles,
  },
  {
    names: ['guestRxStartMinCycles', 'guestRxStartMaxCycles'],
    says: 'guestRxStartMinCycles <= guestRxStartMaxCycles',
    holds: (c) => c.guestRxStartMinCycles <= c.guestRxStartMaxCycles,
  },
  {
    names: ['lwkNoiseDurationNs', 'lwkNoiseMeanIntervalNs', 'linuxNoiseDurationNs', 'linuxNoiseMeanIntervalNs'],
    says: 'the lightweight kernel is no noisier than Linux: lwkNoiseDurationNs / lwkNoiseMeanIntervalNs <= linuxNoiseDurationNs / linuxNoiseMeanIntervalNs (§4.5)',
    holds: (c) => c.lwkNoiseDurationNs * c.linuxNoiseMeanIntervalNs <= c.linuxNoiseDurationNs * c.lwkNoiseMeanIntervalNs,
  },
  {
    names: ['ethMinFrameBytes', 'ethHeaderBytes', 'ethFcsBytes'],
    says: 'ethMinFrameBytes >= ethHeaderBytes + ethFcsBytes',
    holds: (c) => c.ethMinFrameBytes >= c.ethHeaderBytes + c.ethFcsBytes,
  },
];

/** A rejected cost override: names the parameter, the value and what is allowed. */
export class CostError extends Error {
  override readonly name = 'CostError';
  constructor(
    readonly parameter: string,
    readonly value: unknown,
    readonly allowed: string,
  ) {
    super(`costs.${parameter} = ${show(value)} is not allowed; ${allowed}`);
  }
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v !== 'object' || v === null) return String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

function allowedRange(spec: CostSpec): string {
  return `expected ${spec.integer ? 'an integer' : 'a number'} from ${spec.min} to ${spec.max} ${spec.unit}`;
}

/** Edit distance, for "did you mean" on a misspelt name. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length];
}

function unknownName(name: string): string {
  const best = costNames.map((n) => [n, distance(name, n)] as const).sort((x, y) => x[1] - y[1])[0];
  const hint = best && best[1] <= Math.max(2, Math.floor(name.length / 4)) ? `did you mean "${best[0]}"? ` : '';
  return `no such cost parameter; ${hint}known: ${costNames.join(', ')}`;
}

/**
 * Validates `overrides` and returns the complete, frozen cost values. Throws a `CostError` naming
 * the parameter for an unknown name, an override of a derived parameter, a unit other than the
 * parameter's, a value out of range or not an integer where one is required, or a broken rule
 * between parameters (`costRules`).
 */
export function checkCosts(overrides: CostOverrides = {}): Costs {
  if (overrides === null || typeof overrides !== 'object' || Array.isArray(overrides)) {
    throw new CostError('(overrides)', overrides, 'expected an object of cost overrides');
  }
  const out: Record<string, number> = {};
  for (const [name, raw] of Object.entries(overrides)) {
    if (raw === undefined) continue;
    if (!Object.hasOwn(costParams, name)) throw new CostError(name, raw, unknownName(name));
    const spec: CostSpec = costParams[name as CostName];
    if (spec.basis === 'derived') {
      throw new CostError(name, raw, `it is derived from ${spec.from.join(', ')}; override those instead`);
    }
    let value: unknown = raw;
    if (typeof raw === 'object' && raw !== null) {
      if (raw.unit !== spec.unit) throw new CostError(name, raw, `the unit must be ${JSON.stringify(spec.unit)}, not ${show(raw.unit)}`);
      value = raw.value;
    }
    const ok =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      value >= spec.min &&
      value <= spec.max &&
      (!spec.integer || Number.isInteger(value));
    if (!ok) throw new CostError(name, raw, allowedRange(spec));
    out[name] = value as number;
  }
  for (const name of costNames) {
    const spec: CostSpec = costParams[name];
    if (spec.basis === 'derived') {
      const v = spec.derive(out);
      if (!Number.isFinite(v) || v < spec.min || v > spec.max) {
        throw new CostError(name, v, `derived from ${spec.from.join(', ')}, it must lie from ${spec.min} to ${spec.max} ${spec.unit}`);
      }
      out[name] = v;
    } else if (!(name in out)) {
      out[name] = spec.value;
    }
  }
  const costs = out as Record<CostName, number>;
  for (const rule of costRules) {
    if (!rule.holds(costs)) {
      const values = rule.names.map((n) => `${n}=${costs[n]}`).join(', ');
      throw new CostError(rule.names[0], costs[rule.names[0]], `${rule.says} fails with ${values}`);
    }
  }
  return Object.freeze(costs);
}

/** The costs with no overrides. */
export const defaultCosts: Costs = checkCosts();

/** One row per parameter with its resolved default value, for docs and reports. */
export function costTable(): readonly {
  readonly name: CostName;
  readonly value: number;
  readonly unit: CostUnit;
  readonly basis: CostSpec['basis'];
  readonly fitted: boolean;
  readonly source: string;
  readonly description: string;
  readonly fitTo?: readonly string[];
  readonly note?: string;
}[] {
  return costNames.map((name) => {
    const s: CostSpec = costParams[name];
    return {
      name,
      value: defaultCosts[name],
      unit: s.unit,
      basis: s.basis,
      fitted: s.fitted,
      source: s.source,
      description: s.description,
      ...(s.basis === 'fitted' ? { fitTo: s.fitTo, note: s.note } : {}),
    };
  });
}

// ---- Conversions --------------------------------------------------------------------------------

/** Whole nanoseconds for `n` CPU cycles at `hz` (default: the testbed's 2.3 GHz), rounded to nearest. */
export function cycles(n: number, hz: number = defaultCosts.cpuHz): number {
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new CostError('(cycles)', n, 'expected a finite number of cycles >= 0');
  if (typeof hz !== 'number' || !Number.isFinite(hz) || hz <= 0) throw new CostError('cpuHz', hz, 'expected a positive frequency in Hz');
  return Math.round((n * 1e9) / hz);
}

/**
 * Whole nanoseconds to clock `bytes` onto a link of `bitsPerSecond`, rounded up so that a
 * transmission never ends early (the error is under 1 ns per transmission).
 */
export function serializationNs(bytes: number, bitsPerSecond: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new CostError('(bytes)', bytes, 'expected a non-negative integer number of bytes');
  if (typeof bitsPerSecond !== 'number' || !Number.isFinite(bitsPerSecond) || bitsPerSecond <= 0) {
    throw new CostError('(bit rate)', bitsPerSecond, 'expected a positive rate in bit/s');
  }
  // bytes * 8e9 stays an exact integer for any frame size; the one division is correctly rounded.
  return Math.ceil((bytes * 8 * 1e9) / bitsPerSecond);
}

/**
 * Bytes an Ethernet frame occupies on the wire. `frameBytes` is the frame as the virtio ring and
 * the NIC driver see it: MAC header plus payload, without FCS. Adds the FCS, pads to the minimum
 * frame, and adds preamble, SFD and the minimum inter-packet gap (IEEE 802.3 §3.1.1, §4.4.2).
 */
export function ethernetWireBytes(frameBytes: number, c: Costs = defaultCosts): number {
  if (!Number.isSafeInteger(frameBytes) || frameBytes < c.ethHeaderBytes) {
    throw new CostError('(frame bytes)', frameBytes, `expected an integer of at least the ${c.ethHeaderBytes}-byte MAC header`);
  }
  return Math.max(frameBytes + c.ethFcsBytes, c.ethMinFrameBytes) + c.ethPreambleSfdBytes + c.ethIfgBytes;
}

/** Time an Ethernet frame (MAC header plus payload, no FCS) holds a link of `bitsPerSecond`. */
export function ethernetSerializationNs(frameBytes: number, bitsPerSecond: number, c: Costs = defaultCosts): number {
  return serializationNs(ethernetWireBytes(frameBytes, c), bitsPerSecond);
}

/** Size of the UDP-encapsulated frame VNET/P hands to the host NIC (outer headers + guest frame). */
export function vnetEncapsulatedBytes(guestFrameBytes: number, c: Costs = defaultCosts): number {
  if (!Number.isSafeInteger(guestFrameBytes) || guestFrameBytes < 0) {
    throw new CostError('(frame bytes)', guestFrameBytes, 'expected a non-negative integer number of bytes');
  }
  return guestFrameBytes + c.vnetEncapBytes;
}
