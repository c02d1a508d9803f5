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
  linuxNoiseMeanIntervalNs: fitted(10_000_000, {
    unit: 'ns',
    min: 1,
    max: 1_000_000_000_000,
    description: 'Mean time between host noise events (timer ticks, daemons, preemption) on a Linux host, taken as exponential.',
    source: '§3.2.3 (OS noise), §4.5',
    fitTo: [ROW.variability],
    note: 'Initial guess; not a measurement.',
  }),
  linuxNoiseDurationNs: fitted(200_000, {
    unit: 'ns',
    min: 0,
    max: 1_000_000_000_000,
    description: 'How long one Linux host noise event holds the core.',
    source: '§3.2.3, §4.5',
    fitTo: [ROW.variability],
    note: 'Initial guess; not a measurement.',
  }),
  lwkNoiseMeanIntervalNs: fitted(1_000_000_000, {
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
