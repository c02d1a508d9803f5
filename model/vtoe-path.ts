/**
 * Two VNET+VTOE hosts composed from the machines (dissertation §4.6, §5.3.1 with Figure 5.7;
 * protocol-notes.md §7): on each host a guest application, one guest VNET socket per connection,
 * the VTOE NIC, the connection agent (VNET_Core_CA and VNET_Host_CA), and per shadow CID a shadow
 * connection and its RC queue pair; between the hosts an InfiniBand fabric that carries CM MADs and
 * QP packets with a delay, in order per direction.
 *
 *   guest app --app.*--> socket --vtoe.*--> NIC (commands, SWQ/RWQ + doorbell) --overlay.*--> agent
 *   agent --cm.call--> shadow --cm.send--> fabric --cm.recv--> peer shadow --cm.event--> peer agent
 *   agent --qp.post-*--> QP --wire.send--> fabric --wire.receive--> peer QP --cq.*--> peer agent
 *   agent --vtoe.event--> NIC EQ --irq, drain--> socket;  agent --vtoe.completion--> guest app
 *
 * The machines were written alone, so the routes translate between their vocabularies:
 * - the guest socket knows no socket ids: the app asks the agent for one (`vtoe.socket`) and the
 *   glue binds it to the socket; commands go through the NIC's control registers with the SID;
 * - the socket's offloaded FIN (`vtoe.disconnect`) is the agent's DISCONNECT (its shadow sends the
 *   DREQ); on the peer, DISCONNECTED for a socket that is still ESTABLISHED is the peer's FIN
 *   (Figure 5.7(b): the peer goes to CLOSE-WAIT), delivered as `vtoe.peer-fin`, unless the host CA
 *   itself tore the connection down after a fatal QP error, when it is a reset. The second
 *   closer's DISCONNECT finds the shadow connection already answered (its DREP went with the
 *   DISCONNECTED event), so the agent refuses it, and that refusal completes LAST-ACK
 *   (`vtoe.fin-acked`). The socket's `vtoe.abort` (closing a listener) is the NIC's DISCONNECT;
 * - a CID's shadow connection and QP are created on `cid.created` (the QP is created and moved
 *   to INIT, as rdma_create_qp does) and destroyed on `released`;
 * - the fabric stands for the IB hardware under the machines: a REQ for a host with no listener is
 *   answered with a REJ (ib_cm, "invalid service id"); the responder accepts packets in PSN order
 *   only (after an RNR NAK the following packets are dropped until the resend, and duplicates are
 *   dropped), which the QP machine leaves to the hardware;
 * - the host CA handles a fatal QP error (the QP entered ERR by itself) on an established
 *   connection as rdma_cm consumers do: it disconnects (the DREQ then times out if the peer is gone).
 *
 * Faults: the link can go down (every packet and MAD is lost from then on, and the QPs in RTS or SQD
 * on both hosts get `hw.send-error`), or a host's IB device can be removed (DEVICE_REMOVAL through
 * the agent; its shadow connections and QPs are destroyed; the peer's QPs of those connections get
 * `hw.send-error`, as their transport retries would run out).
 *
 * Time. Untimed (the protocol properties' default), every delay is a random test delay (`TIMING`).
 * With `timed` every delay and CPU charge comes from the cost table (model/costs.ts), on cores that
 * do work in order (a guest vcore -- two for a sending and a receiving process -- and the VMM core):
 * - guest: a socket operation (vtoeSocketCyclesPerOp) per send/recv/command; send() copies the
 *   application's data into the socket's buffer (copyCyclesPerByte; the guest copy §5.3.1 allows);
 *   every VWQE post and command is a doorbell, one VM exit (vmExitEntryCycles) on the guest's core;
 *   every completion and EQ event reaches the guest by a virtual interrupt, whose handler runs
 *   irqToHandlerCycles after it is raised and which costs the core virtualInterruptMinCycles
 *   (what arrives while one is pending rides on it); recv() copies the data to the application;
 * - VMM: the dispatcher hands each VWQE to the agent, which maps SID to CID and posts the guest
 *   buffer itself on the RC queue pair (vnetCoreCyclesPerPacket + vtoeAgentCyclesPerWqe +
 *   ibVerbsPostCycles) -- no copy; a CQ completion reaches it after the host interrupt
 *   (hostIrqToPollCycles) and is polled and mapped back (vtoeAgentCyclesPerWqe + ibVerbsPollCycles);
 * - IB hardware: the shared InfiniBand fabric model (model/ib-fabric.ts) carries the QPs' packets,
 *   the QP machines attached to it (the shadow connections still move them): HCA latency, DMA of
 *   each packet over PCIe straight from and into guest memory, serialization at the IB data rate in
 *   RC packets of the path MTU, cut-through switch, RC credits, ACKs, RNR and transport retries.
 *   CM MADs cross this module's own fabric component, timed with the same physics (`timed.fabric:
 *   'own'` carries the QPs' packets there too, without credits or transport timers). Reliability is
 *   the RC transport's: the guests send no TCP ACKs, compute no checksums and retransmit nothing
 *   (counted in `log.work`).
 * Broken variants for the acceptance tests (`timed.variant`): `copies` and `guest-acks`.
 * Scripted workloads (`ConnectionPlan.script`, `scriptedPlan`) drive ttcp and MPI (model/vtoe-runs.ts).
 *
 * The run records what the properties need (`VtoePath.log`): per connection what each guest sent,
 * what arrived (message identity is carried by the fabric, since a QP packet has only a length),
 * the VTOE events each socket saw, the errors each app was told, and problems the monitors found
 * at the step where they happened.
 */
import type { AnyStateMachine, EventObject } from 'xstate';
import { guestSocketMachine, type ErrorReason as SocketError, type VtoeEventName } from '../machines/guest-socket.js';
import { vtoeNicMachine } from '../machines/vtoe-nic.js';
import { connectionAgentMachine } from '../machines/connection-agent.js';
import { shadowConnectionMachine, type CmMessage } from '../machines/shadow-connection.js';
import { queuePairMachine, requiredMask, type CompletionStatus } from '../machines/queue-pair.js';
import { cycles, serializationNs, type Costs } from './costs.js';
import { IbFabric, ibWireBytes, type QpRef } from './ib-fabric.js';
import type { Random } from './random.js';
import { System, type SystemOptions, type WiringContext } from './wiring.js';

export type Host = 'A' | 'B';
export const HOSTS: readonly Host[] = ['A', 'B'];
const peerOf = (h: Host): Host => (h === 'A' ? 'B' : 'A');

/** One connection of the workload: A opens it actively, B passively. Connections run one after another. */
export interface ConnectionPlan {
  /** B listens for it (false: A's REQ finds no listener and is rejected). */
  readonly listen: boolean;
  /** What the overlay's routing answers to A's address and route lookups. */
  readonly resolve: 'ok' | 'address-error' | 'route-error';
  /** Messages A and B send once connected. */
  readonly sendsA: number;
  readonly sendsB: number;
  /**
   * A scripted workload instead of random app behaviour (see `scriptedPlan`): each side runs its
   * operations in order; sends and receives of `bytes`, split into messages of at most the
   * receive buffer size. `sendsA`/`sendsB` must then be the message counts `scriptedPlan` gives.
   */
  readonly script?: Readonly<Record<Host, readonly AppOp[]>>;
  /** Each side's sends and receives proceed independently (a sending and a receiving process), not in script order. */
  readonly independent?: boolean;
}

/** One application operation of a scripted workload: write `bytes` to the socket, or read `bytes` from it. */
export type AppOp = { readonly op: 'send'; readonly bytes: number } | { readonly op: 'recv'; readonly bytes: number };

/** Messages (VWQEs) a socket operation of `bytes` becomes when each carries at most `segBytes`. */
export const messagesOf = (bytes: number, segBytes: number): number => Math.max(1, Math.ceil(bytes / segBytes));

/** A connection plan that runs `script` (A active, B passive), with the message counts it implies. */
export function scriptedPlan(script: Readonly<Record<Host, readonly AppOp[]>>, segBytes: number): ConnectionPlan {
  const sends = (h: Host) => script[h].reduce((n, o) => n + (o.op === 'send' ? messagesOf(o.bytes, segBytes) : 0), 0);
  const recvs = (h: Host) => script[h].reduce((n, o) => n + (o.op === 'recv' ? messagesOf(o.bytes, segBytes) : 0), 0);
  for (const h of HOSTS) {
    if (recvs(h) !== sends(peerOf(h))) throw new RangeError(`script: ${h} receives ${recvs(h)} messages but ${peerOf(h)} sends ${sends(peerOf(h))}`);
    for (const o of script[h]) if (!Number.isInteger(o.bytes) || o.bytes < 1) throw new RangeError(`script.${h}: bytes must be a positive integer, got ${o.bytes}`);
  }
  return { listen: true, resolve: 'ok', sendsA: sends('A'), sendsB: sends('B'), script };
}

/**
 * Deliberately broken variants of the timed composition (issue 8 acceptance):
 * - `copies`: the VMM copies every guest buffer through a host buffer (on send before posting, on
 *   receive before completing) instead of posting the guest buffer itself (§5.3.1 says no copy);
 * - `guest-acks`: the guest still runs TCP's reliability on the offloaded path: it checksums each
 *   message it receives and sends a TCP ACK back over the IB connection (§3.3.2's duplicated work).
 */
export type VtoeVariant = 'copies' | 'guest-acks';

/** Time and costs: every delay from the cost table, CPU time charged to the cores that do the work. */
export interface VtoeTimed {
  readonly costs: Costs;
  readonly variant?: VtoeVariant;
  /** Send window per socket in messages (the socket send buffer over the message size); default 4. */
  readonly sendWindow?: number;
  /** Receive buffers a scripted receiver keeps posted; default 4. */
  readonly recvAhead?: number;
  /**
   * What carries the QPs' packets: `shared` (default) the InfiniBand fabric model of
   * model/ib-fabric.ts (its QPs attached: the shadow connections still move them), or `own`, this
   * module's simpler timed fabric (same physics, no RC credits or transport timers).
   */
  readonly fabric?: 'shared' | 'own';
  /**
   * Guest cores the workload's processes use: 1 (one process sends and receives, as an MPI rank) or
   * 2 (a sending and a receiving process on their own vcores, as the two ttcp processes of a
   * bi-stream test); default 1.
   */
  readonly guestCores?: 1 | 2;
}

export type CpuKind = 'user' | 'guest' | 'vmm';

/** Work the run did, counted where it happens (the properties compare these across configurations). */
export interface VtoeWork {
  /** Bytes the overlay (VMM) copied on the data path: zero-copy means 0 (§5.3.1). */
  overlayCopyBytes: number;
  /** Bytes the guest copied between application buffers and socket buffers (§5.3.1 allows it). */
  guestCopyBytes: number;
  /** Guest-level reliability work (§3.3.2): TCP ACKs the guest sent, checksums it computed, segments it retransmitted. */
  guestTcpAcks: number;
  guestChecksums: number;
  guestRetransmissions: number;
  /** Doorbells and commands (each a VM exit), virtual interrupts raised, IB packets this module's own fabric carried (CM MADs; QP packets too with `fabric: 'own'`). */
  vmExits: number;
  virtualInterrupts: number;
  ibPackets: number;
  /** Payload bytes that reached guest buffers. */
  deliveredBytes: number;
}

export type Fault = { readonly kind: 'link-down'; readonly atNs: number } | { readonly kind: 'device-removal'; readonly host: Host; readonly atNs: number };

export interface VtoeMachines {
  readonly socket: AnyStateMachine;
  readonly nic: AnyStateMachine;
  readonly agent: AnyStateMachine;
  readonly shadow: AnyStateMachine;
  readonly qp: AnyStateMachine;
}

export interface VtoePathOptions {
  readonly connections: readonly ConnectionPlan[];
  readonly fault?: Fault;
  readonly seed?: number;
  /** Bytes per message (at most the receive buffer size). */
  readonly messageBytes?: number;
  /** Size of each guest receive buffer (default 4096; at most 1 MiB). Scripted messages are at most this. */
  readonly recvBufferBytes?: number;
  /** Time and costs from the cost table instead of the random test delays (`TIMING`). */
  readonly timed?: VtoeTimed;
  /** Replacement machines (mutants). */
  readonly machines?: Partial<VtoeMachines>;
  /** Deliberately broken glue, for mutation tests. */
  readonly brokenGlue?: {
    readonly dropDisconnected?: boolean;
    /** Timed runs: the fabric carries packets without serializing them on the link or the host bus (breaks physics). */
    readonly ignoreLinkRate?: boolean;
  };
  readonly system?: Omit<SystemOptions, 'seed'>;
}

/** Timing (ns). CM and QP timers are short so that fault runs end quickly. */
export const TIMING = {
  fabricMinNs: 1_000,
  fabricMaxNs: 20_000,
  vmExitNs: 1_500,
  injectNs: 500,
  irqMinNs: 1_000,
  irqMaxNs: 5_000,
  lookupNs: 2_000,
  transportTimeoutNs: 50_000,
  cmResponseTimeoutNs: 200_000,
  cmRetries: 2,
  ibTimeWaitNs: 500_000,
  agentTimeWaitNs: 2_000_000,
  tcpTimeWaitNs: 1_000_000,
  rnrTimerNs: 10_000,
  recvBufferBytes: 4096,
} as const;

/** Largest guest receive buffer (one VWQE's data) a run may use. */
export const MAX_BUFFER_BYTES = 1 << 20;

/** A CM MAD on the wire is a 256-byte UD payload (IBTA Vol. 1 §13.4, §12.6); packet headers from `ibWireBytes`. */
export const IB_MAD_BYTES = 256;
/** A guest TCP ACK (variant `guest-acks`): IPv4 20 + TCP 20 + timestamps 12 bytes (RFC 791, 9293, 7323). */
export const GUEST_TCP_ACK_BYTES = 20 + 20 + 12;

const newWork = (): VtoeWork => ({
  overlayCopyBytes: 0,
  guestCopyBytes: 0,
  guestTcpAcks: 0,
  guestChecksums: 0,
  guestRetransmissions: 0,
  vmExits: 0,
  virtualInterrupts: 0,
  ibPackets: 0,
  deliveredBytes: 0,
});

/** The timed run's delays and CPU costs, in ns, from the cost table. */
export function timedCosts(c: Costs) {
  const ns = (cyc: number) => cycles(cyc, c.cpuHz);
  return {
    /** One VNET socket operation in the guest (system call, socket module, VWQE). */
    socketOpNs: ns(c.vtoeSocketCyclesPerOp),
    copyNs: (bytes: number) => ns(c.copyCyclesPerByte * bytes),
    /** A doorbell or command register write: a VM exit handled on the guest's core (§4.6.3, §3.2.1). */
    vmExitNs: ns(c.vmExitEntryCycles),
    /** Raise to handler (T0-T2, §3.2.1) and the injection's own cost on the guest core. */
    irqLatencyNs: ns(c.irqToHandlerCycles),
    irqCpuNs: ns(c.virtualInterruptMinCycles),
    /** VMM: the packet dispatcher hands a TCP_OFFLOAD VWQE to the agent, which maps SID to CID and posts it with a verbs post (§5.3.1). */
    vmmWqeNs: ns(c.vnetCoreCyclesPerPacket + c.vtoeAgentCyclesPerWqe + c.ibVerbsPostCycles),
    /** VMM: the agent polls a CQ completion (or takes a CM event) and maps CID to SID. */
    vmmCompletionNs: ns(c.vtoeAgentCyclesPerWqe + c.ibVerbsPollCycles),
    /** Host: HCA interrupt to the VMM's completion handler running. */
    hostIrqNs: ns(c.hostIrqToPollCycles),
    /** Guest TCP/IP work on one segment (only the `guest-acks` variant does any). */
    guestStackNs: ns(c.guestStackCyclesPerPacket),
    ibDataBitRate: c.ibDataBitRate,
    /** RC path MTU: the port's active MTU, the 2 KB the testbed reports (as model/ib-fabric.ts). */
    ibMtuBytes: c.ibUdMtuBytes,
    /** HCA DMA over PCIe in Max_Payload_Size TLPs (as model/ib-fabric.ts). */
    dmaNs: (bytes: number) => {
      if (bytes === 0) return 0;
      const tlps = Math.ceil(bytes / c.ibPcieTlpPayloadBytes);
      return Math.ceil(((bytes + tlps * c.ibPcieTlpOverheadBytes) * 8e9) / c.ibPcieDataBitRate);
    },
    hcaTxNs: c.ibHcaTxNs,
    hcaRxNs: c.ibHcaRxNs,
    switchNs: c.ibSwitchLatencyNs,
    cableNs: c.ibLinkPropagationNs,
  };
}

type AnyEvent = EventObject & Record<string, unknown>;

const FATAL: readonly SocketError[] = ['ENODEV', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'ETIMEDOUT', 'ECONNREFUSED', 'ECONNRESET'];

export interface SideLog {
  socket?: string;
  sid?: number;
  /** Message ids the agent posted on the QP for this side, in order. */
  posted: number[];
  /** Send completion status per message id, as the app was told (or 'refused' by the agent). */
  sendStatus: Map<number, CompletionStatus | 'refused'>;
  /** Ids of the peer's messages delivered into this side's buffers, in order. */
  delivered: number[];
  /** VTOE events delivered to the socket, in order. */
  events: VtoeEventName[];
  /** Errors the app was told (socket errors). */
  errors: SocketError[];
  /** Socket states visited, in order of first visit. */
  visited: string[];
  established: boolean;
  done: boolean;
  nextWr: number;
  nextBuf: number;
  sendsCompleted: number;
  received: number;
  closeScheduled: boolean;
  /** Scripted workloads: virtual time each operation of the script completed (a send when its last message was handed to the socket, a receive when its last message reached the application). */
  opDoneNs: number[];
  /** The script index of each completed operation (the same order as `opDoneNs`). */
  opDoneIndex: number[];
  /** CPU time each host had been charged (`cpu.busyNs`) when each operation completed. */
  opBusyNs: Record<Host, number>[];
}

export interface ConnLog {
  readonly index: number;
  readonly plan: ConnectionPlan;
  readonly side: Record<Host, SideLog>;
}

export interface VtoeLog {
  readonly conns: ConnLog[];
  /** Problems found by the step monitors, each with the time and what broke. */
  readonly violations: { readonly kind: 'correspondence' | 'bijection' | 'release' | 'legality' | 'order' | 'after-removal'; readonly atNs: number; readonly what: string }[];
  /** Counters for the witnesses. */
  readonly seen: {
    rejections: number;
    simultaneousCloses: number;
    rnrRetries: number;
    flushCompletions: number;
    releases: number;
    sidReused: number;
    established: number;
  };
  removedAtNs: Partial<Record<Host, number>>;
  linkDownAtNs?: number;
  /** What work each host did (timed runs count everything; untimed runs count copies and reliability work only). */
  readonly work: Record<Host, VtoeWork>;
}

export interface VtoePath {
  readonly system: System;
  readonly log: VtoeLog;
  /** Components of the shadow connections and QPs still alive (not released). */
  liveCids(): { host: Host; cid: number; cm: string; qp: string }[];
  readonly opts: VtoePathOptions;
  /** CPU time: ns each host's cores were busy since time 0 (kind: user, guest kernel, VMM; undefined: all). Zero in untimed runs. */
  readonly cpu: { busyNs(h: Host, kind?: CpuKind): number };
}

interface CidEntry {
  readonly cid: number;
  readonly sid: number;
  readonly key: string;
  readonly cm: string;
  readonly qp: string;
  dead: boolean;
  respTimer?: number;
  readonly wrBytes: Map<number, number>;
  /** The peer's shadow (once the REQ found it). */
  peer?: CidEntry;
  readonly host: Host;
  /** Responder side of the PSN check: first-transmission order of the sender's packets. */
  psnOf: Map<number, number>;
  nextPsn: number;
  /** Next PSN this QP expects from its peer. */
  expected: number;
  /** The packet being delivered to this QP (its message identity). */
  inflight?: { id: number };
  readonly conn: number;
  /** The QP as the shared IB fabric knows it (timed runs on the shared fabric). */
  ref?: QpRef;
}

interface HostState {
  readonly h: Host;
  removed: boolean;
  cids: Map<number, CidEntry>;
  gen: number;
  sidConn: Map<number, number>;
  pending: number[];
  failing: Set<number>;
  bufTag: Map<string, number>;
  everSids: Set<number>;
}

/** What crosses the fabric; `from` is the key of the sending shadow connection (and its QP). */
type FabricMsg =
  | { kind: 'cm'; from: string; msg: CmMessage; to?: string }
  | { kind: 'data'; from: string; id: number; bytes: number }
  | { kind: 'ack'; from: string }
  | { kind: 'rnr-nak'; from: string }
  | { kind: 'guest-ack'; from: string };

/** Builds the two hosts and the workload; call `system.run()` to play it. */
export function buildVtoePath(opts: VtoePathOptions): VtoePath {
  const m: VtoeMachines = {
    socket: guestSocketMachine,
    nic: vtoeNicMachine,
    agent: connectionAgentMachine,
    shadow: shadowConnectionMachine,
    qp: queuePairMachine,
    ...opts.machines,
  };
  const sys = new System({ seed: opts.seed ?? 1, ...opts.system });
  const recvBufferBytes = opts.recvBufferBytes ?? TIMING.recvBufferBytes;
  if (!Number.isInteger(recvBufferBytes) || recvBufferBytes < 1 || recvBufferBytes > MAX_BUFFER_BYTES) {
    throw new RangeError(`recvBufferBytes must be an integer 1..${MAX_BUFFER_BYTES}, got ${recvBufferBytes}`);
  }
  const bytes = opts.messageBytes ?? Math.min(1024, recvBufferBytes);
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > recvBufferBytes) throw new RangeError(`messageBytes must be an integer 1..${recvBufferBytes} (the receive buffer size), got ${bytes}`);
  const timed = opts.timed;
  const variant = timed?.variant;
  if (variant !== undefined && variant !== 'copies' && variant !== 'guest-acks') throw new RangeError(`timed.variant must be 'copies' or 'guest-acks', got ${String(variant)}`);
  const sendWindow = timed?.sendWindow ?? 4;
  const recvAhead = timed?.recvAhead ?? 4;
  if (!Number.isInteger(sendWindow) || sendWindow < 1 || sendWindow > 64) throw new RangeError(`timed.sendWindow must be an integer 1..64, got ${sendWindow}`);
  if (!Number.isInteger(recvAhead) || recvAhead < 1 || recvAhead > 64) throw new RangeError(`timed.recvAhead must be an integer 1..64, got ${recvAhead}`);
  const T = timed ? timedCosts(timed.costs) : undefined;
  const fabricKind = timed?.fabric ?? 'shared';
  if (fabricKind !== 'shared' && fabricKind !== 'own') throw new RangeError(`timed.fabric must be 'shared' or 'own', got ${String(fabricKind)}`);
  // The shared fabric carries the QPs' packets; CM MADs stay on this module's fabric component.
  const ib = timed && fabricKind === 'shared'
    ? new IbFabric(sys, { hosts: HOSTS, costs: timed.costs, prefix: 'ib', broken: opts.brokenGlue?.ignoreLinkRate ? { ignoreLinkRate: true } : undefined })
    : undefined;
  const newSide = (): SideLog => ({
    posted: [],
    sendStatus: new Map(),
    delivered: [],
    events: [],
    errors: [],
    visited: [],
    established: false,
    done: false,
    nextWr: 0,
    nextBuf: 0,
    sendsCompleted: 0,
    received: 0,
    closeScheduled: false,
    opDoneNs: [],
    opDoneIndex: [],
    opBusyNs: [],
  });
  const log: VtoeLog = {
    conns: opts.connections.map((plan, index) => ({ index, plan, side: { A: newSide(), B: newSide() } })),
    violations: [],
    seen: { rejections: 0, simultaneousCloses: 0, rnrRetries: 0, flushCompletions: 0, releases: 0, sidReused: 0, established: 0 },
    removedAtNs: {},
    work: { A: newWork(), B: newWork() },
  };
  const violation = (kind: VtoeLog['violations'][number]['kind'], what: string) => log.violations.push({ kind, atNs: sys.now, what });
  const hs: Record<Host, HostState> = {
    A: { h: 'A', removed: false, cids: new Map(), gen: 0, sidConn: new Map(), pending: [], failing: new Set(), bufTag: new Map(), everSids: new Set() },
    B: { h: 'B', removed: false, cids: new Map(), gen: 0, sidConn: new Map(), pending: [], failing: new Set(), bufTag: new Map(), everSids: new Set() },
  };
  const ca = (h: Host) => `${h}.ca`;
  const nic = (h: Host) => `${h}.nic`;
  const app = (h: Host) => `${h}.app`;
  const valueOf = (name: string) => sys.snapshot(name).value as string;
  const connOfSid = (h: Host, sid: number) => {
    const k = hs[h].sidConn.get(sid);
    return k === undefined ? undefined : log.conns[k];
  };
  let linkDown = false;

  // ---- time and costs (timed runs) -------------------------------------------------------------
  // Each host has cores that do work in order: the guest's vcore(s) (the application, the VNET
  // socket module, and the VM exits and interrupt injections that stall it; with two, sending work
  // is on one and receiving work on the other) and the VMM core that runs the connection agent.
  // Work is queued on a core; its continuation runs when it is done.
  interface Core {
    readonly name: string;
    freeAt: number;
    readonly busy: Record<CpuKind, number>;
  }
  const newCore = (name: string): Core => ({ name, freeAt: 0, busy: { user: 0, guest: 0, vmm: 0 } });
  const guestCores = timed?.guestCores ?? 1;
  if (guestCores !== 1 && guestCores !== 2) throw new RangeError(`timed.guestCores must be 1 or 2, got ${String(guestCores)}`);
  const hostCores = (h: Host) => {
    const tx = newCore(`${h}.vcpu0`);
    return { tx, rx: guestCores === 2 ? newCore(`${h}.vcpu1`) : tx, vmm: newCore(`${h}.vmmcpu`) };
  };
  const cores = { A: hostCores('A'), B: hostCores('B') };
  const coreList = (h: Host) => [...new Set([cores[h].tx, cores[h].rx, cores[h].vmm])];
  const busyOf = (h: Host, kind?: CpuKind) => coreList(h).reduce((n, c) => n + (kind ? c.busy[kind] : c.busy.user + c.busy.guest + c.busy.vmm), 0);
  const jobs = new Map<number, (x: WiringContext) => void>();
  let nextJob = 0;
  const jobAt = (x: WiringContext, core: Core, at: number, then: (x: WiringContext) => void) => {
    const id = nextJob++;
    jobs.set(id, then);
    x.scheduleAt(at, core.name, { type: 'cpu.done', job: id });
  };
  /** Queues `work` (ns per kind) on `core`; `then` runs when the core has done it. */
  function onCore(x: WiringContext, core: Core, work: Partial<Record<CpuKind, number>>, then: (x: WiringContext) => void): void {
    let total = 0;
    for (const k of ['user', 'guest', 'vmm'] as const) {
      const n = work[k] ?? 0;
      core.busy[k] += n;
      total += n;
    }
    const start = Math.max(x.now, core.freeAt);
    core.freeAt = start + total;
    jobAt(x, core, core.freeAt, then);
  }
  for (const h of HOSTS) {
    for (const core of coreList(h)) {
      sys.addComponent(core.name, (e, x) => {
        const id = (e as unknown as { job: number }).job;
        const f = jobs.get(id);
        jobs.delete(id);
        if (e.type === 'cpu.done') f?.(x);
        else if (e.type === 'cpu.irq') f?.(x);
      });
    }
  }
  /**
   * A virtual interrupt to the guest of `h` (§3.2.1): the handler runs irqToHandlerCycles after it
   * is raised; what arrives while one is pending rides on it (one interrupt, several completions).
   * The injection costs the guest core virtualInterruptMinCycles of VMM work, then each item its own work.
   */
  const pendingIrq = new Map<Core, { work: Partial<Record<CpuKind, number>>; then: (x: WiringContext) => void }[]>();
  function virtualIrq(x: WiringContext, h: Host, core: Core, work: Partial<Record<CpuKind, number>>, then: (x: WiringContext) => void): void {
    const t = T!;
    const q = pendingIrq.get(core);
    if (q) {
      q.push({ work, then });
      return;
    }
    const items = [{ work, then }];
    pendingIrq.set(core, items);
    log.work[h].virtualInterrupts++;
    jobAt(x, core, x.now + t.irqLatencyNs, (y) => {
      pendingIrq.delete(core);
      onCore(y, core, { vmm: t.irqCpuNs }, () => undefined);
      for (const it of items) onCore(y, core, it.work, it.then);
    });
  }
  /**
   * Variant guest-acks: guest `h` runs TCP's reliability on data that RC already made reliable
   * (§3.3.2): it checksums the received message and sends a TCP ACK back over the connection.
   */
  function guestAck(x: WiringContext, h: Host, bytes: number): void {
    const t = T!;
    log.work[h].guestChecksums++;
    log.work[h].guestTcpAcks++;
    log.work[h].vmExits++;
    onCore(x, cores[h].rx, { guest: t.guestStackNs + t.copyNs(bytes), vmm: t.vmExitNs }, (y) =>
      onCore(y, cores[h].vmm, { vmm: t.vmmWqeNs }, (z) => {
        if (!linkDown && !hs[h].removed) send(z, h, { kind: 'guest-ack', from: `${h}.guest` });
      }),
    );
  }
  /**
   * The IB hardware of the timed run, with model/ib-fabric.ts's physics: the sending HCA starts a
   * message ibHcaTxNs after it is posted, DMA-reads each packet's payload from guest memory over
   * PCIe (zero copy), serializes it on its link at the data rate; the switch forwards it cut-through
   * onto the receiver's link; the receiving HCA DMA-writes it and completes the message ibHcaRxNs
   * after its last packet. Packets of one direction stay in order.
   */
  const port = { A: { txFree: 0, wireFree: 0, swOutFree: 0, rxDmaFree: 0 }, B: { txFree: 0, wireFree: 0, swOutFree: 0, rxDmaFree: 0 } };
  function ibArrival(now: number, from: Host, msg: FabricMsg): number {
    const t = T!;
    const src = port[from];
    const dst = port[peerOf(from)];
    const data = msg.kind === 'data' || msg.kind === 'guest-ack';
    const total = msg.kind === 'data' ? msg.bytes : msg.kind === 'cm' ? IB_MAD_BYTES : msg.kind === 'guest-ack' ? GUEST_TCP_ACK_BYTES : 0;
    const packets = data ? messagesOf(total, t.ibMtuBytes) : 1;
    const readyAt = now + (msg.kind === 'ack' || msg.kind === 'rnr-nak' ? 0 : t.hcaTxNs);
    let left = total;
    for (let i = 0; i < packets; i++) {
      const payload = Math.min(left, t.ibMtuBytes);
      left -= payload;
      const ser = opts.brokenGlue?.ignoreLinkRate ? 0 : serializationNs(ibWireBytes(msg.kind === 'ack' || msg.kind === 'rnr-nak' ? 'ack' : msg.kind === 'cm' ? 'ud' : 'send', payload), t.ibDataBitRate);
      const dma = opts.brokenGlue?.ignoreLinkRate ? 0 : t.dmaNs(payload);
      const dmaEnd = Math.max(readyAt, src.txFree) + dma;
      const wireStart = Math.max(dmaEnd, src.wireFree);
      src.wireFree = wireStart + ser;
      src.txFree = wireStart;
      dst.swOutFree = Math.max(wireStart + t.cableNs + t.switchNs, dst.swOutFree) + ser;
      dst.rxDmaFree = Math.max(dst.swOutFree + t.cableNs, dst.rxDmaFree) + dma;
    }
    log.work[from].ibPackets += packets;
    return dst.rxDmaFree + (msg.kind === 'ack' || msg.kind === 'rnr-nak' ? 0 : t.hcaRxNs);
  }

  // ---- the agent, the NIC and the app of each host --------------------------------------------
  for (const h of HOSTS) {
    const st = hs[h];
    const agent = sys.addMachine(ca(h), m.agent, { maxSockets: 8, timeWaitNs: TIMING.agentTimeWaitNs });
    const card = sys.addMachine(nic(h), m.nic, { sockets: 8 });

    // NIC -> agent: picked-up VWQEs and control-register commands.
    card.route('overlay.vwqe', (e, ctx) => {
      const conn = connOfSid(h, e.vwqe.sid);
      if (!conn) return;
      const ev =
        e.vwqe.kind === 'SEND'
          ? { type: 'vtoe.send', sid: e.vwqe.sid, wrId: conn.side[h].nextWr++, bytes: e.vwqe.bytes }
          : { type: 'vtoe.recv', sid: e.vwqe.sid, bufferId: e.vwqe.bufferId, bytes: e.vwqe.bytes };
      if (T) onCore(ctx, cores[h].vmm, { vmm: T.vmmWqeNs }, (x) => x.schedule(0, ca(h), ev));
      else ctx.schedule(0, ca(h), ev);
    });
    card.route('overlay.command', (e, ctx) => {
      const type = ({ CONNECT: 'vtoe.connect', LISTEN: 'vtoe.listen', ACCEPT: 'vtoe.accept', DISCONNECT: 'vtoe.disconnect' } as Record<string, string>)[e.cmd as string];
      if (T) onCore(ctx, cores[h].vmm, { vmm: T.vmmWqeNs }, (x) => x.schedule(0, ca(h), { type, sid: e.sid }));
      else ctx.schedule(0, ca(h), { type, sid: e.sid });
    });
    card.route('irq.raise', (_e, ctx) => {
      if (T) virtualIrq(ctx, h, cores[h].tx, { guest: T.socketOpNs }, (x) => x.schedule(0, nic(h), { type: 'guest.drain' }));
      else ctx.schedule(ctx.random.uniformNs(TIMING.irqMinNs, TIMING.irqMaxNs), nic(h), { type: 'guest.drain' });
    });
    card.route('guest.event', (e, ctx) => {
      const conn = connOfSid(h, e.sid);
      const side = conn?.side[h];
      if (!conn || !side?.socket) return;
      if (side.events.includes('DEVICE_REMOVAL')) violation('after-removal', `${h} socket of connection ${conn.index} got ${e.name} after DEVICE_REMOVAL`);
      side.events.push(e.name);
      const state = valueOf(side.socket);
      if (e.name === 'CONNECT_REJECTED') log.seen.rejections++;
      if (e.name === 'DISCONNECTED' && state === 'ESTABLISHED' && !st.failing.has(e.sid)) {
        // The peer's FIN (Figure 5.7(b)): the socket goes to CLOSE-WAIT.
        ctx.schedule(0, side.socket, { type: 'vtoe.peer-fin' });
        ctx.schedule(0, app(h), { type: 'sock.peer-fin', conn: conn.index });
        return;
      }
      ctx.schedule(0, side.socket, { type: 'vtoe.event', name: e.name });
      ctx.schedule(0, app(h), { type: 'sock.event', conn: conn.index, name: e.name });
    });
    for (const t of ['eq.refused', 'eq.overflow', 'eq.dropped'] as const) {
      card.route(t, (e) => violation('order', `${h}.nic ${t}: ${e.name} for SID ${e.sid}`));
    }

    // Agent -> guest, routing, shadow connections and QPs.
    agent.route('vtoe.sid', (e, ctx) => {
      const k = st.pending.shift();
      if (k === undefined) return;
      if (st.everSids.has(e.sid)) log.seen.sidReused++;
      st.everSids.add(e.sid);
      st.sidConn.set(e.sid, k);
      log.conns[k].side[h].sid = e.sid;
      ctx.schedule(0, app(h), { type: 'sid', conn: k });
    });
    agent.route('vtoe.event', (e, ctx) => {
      if (opts.brokenGlue?.dropDisconnected && e.name === 'DISCONNECTED') return;
      if (T) onCore(ctx, cores[h].vmm, { vmm: T.vmmCompletionNs }, (x) => x.schedule(0, nic(h), { type: 'overlay.event', sid: e.sid, name: e.name }));
      else ctx.schedule(TIMING.injectNs, nic(h), { type: 'overlay.event', sid: e.sid, name: e.name });
    });
    agent.route('vtoe.completion', (e, ctx) => {
      const conn = connOfSid(h, e.sid);
      if (!conn) return;
      if (st.removed) violation('after-removal', `${h}.ca completed work after DEVICE_REMOVAL`);
      if (e.status === 'flush-error') log.seen.flushCompletions++;
      if (e.queue === 'send') {
        conn.side[h].sendStatus.set(e.wrId, e.status);
      } else if (e.status === 'success') {
        const id = st.bufTag.get(`${e.sid}:${e.wrId}`);
        if (!T && id !== undefined) {
          conn.side[h].delivered.push(id);
          log.work[h].deliveredBytes += e.bytes;
        }
      }
      const done = { type: 'completion', conn: conn.index, queue: e.queue, status: e.status };
      if (!T) {
        ctx.schedule(ctx.random.uniformNs(TIMING.irqMinNs, TIMING.irqMaxNs), app(h), done);
        return;
      }
      const t = T;
      const received = e.queue === 'recv' && e.status === 'success';
      // The guest takes the completion in its interrupt handler; a receive is then copied from the
      // socket's buffer to the application's by recv() (the guest copy §5.3.1 allows).
      const work = { guest: t.socketOpNs + (received ? t.copyNs(e.bytes) : 0) };
      if (received) log.work[h].guestCopyBytes += e.bytes;
      const toGuest = (x: WiringContext) =>
        virtualIrq(x, h, e.queue === 'send' ? cores[h].tx : cores[h].rx, work, (y) => {
          y.schedule(0, app(h), done);
          if (received && variant === 'guest-acks') guestAck(y, h, e.bytes);
        });
      if (received && variant === 'copies') {
        // Broken: the data landed in a host buffer and the VMM copies it into the guest's.
        log.work[h].overlayCopyBytes += e.bytes;
        onCore(ctx, cores[h].vmm, { vmm: t.copyNs(e.bytes) }, toGuest);
      } else toGuest(ctx);
    });
    agent.route('vtoe.error', (e, ctx) => {
      if (e.op === 'vtoe.socket') {
        const k = st.pending.shift();
        if (k !== undefined) ctx.schedule(0, app(h), { type: 'no-socket', conn: k });
        return;
      }
      const conn = connOfSid(h, e.sid);
      const side = conn?.side[h];
      if (!conn || !side?.socket) return;
      if (e.op === 'vtoe.disconnect' && valueOf(side.socket) === 'LAST-ACK') {
        // The shadow connection already answered the peer's DREQ: our FIN is acknowledged.
        ctx.schedule(0, side.socket, { type: 'vtoe.fin-acked' });
      }
      if (e.op === 'vtoe.send') ctx.schedule(0, app(h), { type: 'completion', conn: conn.index, queue: 'send', status: 'refused' });
    });
    agent.route('route.resolve-address', (e, ctx) => {
      const conn = connOfSid(h, e.sid);
      ctx.schedule(TIMING.lookupNs, ca(h), { type: 'route.address-result', sid: e.sid, found: conn?.plan.resolve !== 'address-error' });
    });
    agent.route('route.resolve-route', (e, ctx) => {
      const conn = connOfSid(h, e.sid);
      ctx.schedule(TIMING.lookupNs, ca(h), { type: 'route.route-result', sid: e.sid, found: conn?.plan.resolve !== 'route-error' });
    });
    agent.route('cid.created', (e, ctx) => {
      const old = st.cids.get(e.cid);
      if (old && !old.dead) violation('release', `${h}: CID ${e.cid} created again while its previous shadow connection is alive`);
      createCid(h, e.cid, e.sid, ctx);
      const conn = connOfSid(h, e.sid);
      if (h === 'B' && conn) ctx.schedule(0, 'driver', { type: 'listening', conn: conn.index });
    });
    agent.route('cm.call', (e, ctx) => {
      const c = st.cids.get(e.cid);
      if (c && !c.dead) ctx.schedule(0, c.cm, { type: e.call });
    });
    agent.route('qp.post-send', (e, ctx) => {
      const c = st.cids.get(e.cid);
      if (!c || c.dead) return;
      c.wrBytes.set(e.wr.id, e.wr.bytes);
      log.conns[c.conn].side[h].posted.push(e.wr.id);
      if (T && variant === 'copies') {
        // Broken: the VMM copies the guest buffer into a host buffer and posts that.
        log.work[h].overlayCopyBytes += e.wr.bytes;
        onCore(ctx, cores[h].vmm, { vmm: T.copyNs(e.wr.bytes) }, (x) => x.schedule(0, c.qp, { type: 'post.send', wr: e.wr }));
      } else ctx.schedule(0, c.qp, { type: 'post.send', wr: e.wr });
    });
    agent.route('qp.post-recv', (e, ctx) => {
      const c = st.cids.get(e.cid);
      if (c && !c.dead) ctx.schedule(0, c.qp, { type: 'post.recv', wr: e.wr });
    });
    agent.route('timer.start', (e, ctx) => ctx.schedule(e.delayNs, ca(h), { type: 'timer.timewait', sid: e.sid }));
    agent.route('released', (e, ctx) => {
      log.seen.releases++;
      if (e.cid === null) return;
      const c = st.cids.get(e.cid);
      if (!c || c.dead) return;
      if (!st.removed) {
        // The CID may serve a new connection only once its IB time-wait is over (or it never connected).
        const cm = valueOf(c.cm);
        if (cm !== 'IDLE' && cm !== 'LISTEN') violation('release', `${h}: SID ${e.sid} and CID ${e.cid} released while the shadow connection is in ${cm}`);
        const q = sys.snapshot(c.qp).context as { sq: unknown[]; rq: unknown[] };
        if (q.sq.length + q.rq.length > 0) violation('release', `${h}: CID ${e.cid} released with ${q.sq.length + q.rq.length} work requests outstanding on its QP`);
      }
      c.dead = true;
      if (c.ref) ib?.detach(c.ref);
      if (c.respTimer !== undefined) ctx.cancel(c.respTimer);
    });

    // The host CA's handler of a fatal QP error: an established connection is disconnected.
    sys.addComponent(`${h}.hostca`, (e, ctx) => {
      if (e.type !== 'qp.fatal') return;
      const c = st.cids.get((e as unknown as { cid: number }).cid);
      if (!c || c.dead || st.removed || (e as unknown as { key: string }).key !== c.key) return;
      if (valueOf(c.qp) !== 'ERR') return;
      const agentCtx = sys.snapshot(ca(h)).context as { sids: ({ phase: string } | null)[] };
      if (agentCtx.sids[c.sid]?.phase !== 'established') return;
      st.failing.add(c.sid);
      ctx.schedule(0, ca(h), { type: 'vtoe.disconnect', sid: c.sid });
    });

    addApp(h);
  }

  // ---- per CID: a shadow connection and its QP --------------------------------------------------
  function createCid(h: Host, cid: number, sid: number, ctx: WiringContext): void {
    const st = hs[h];
    const gen = st.gen++;
    const key = `${h}.${cid}.${gen}`;
    const k = st.sidConn.get(sid) ?? -1;
    const c: CidEntry = {
      cid,
      sid,
      key,
      cm: `${h}.cm${cid}.${gen}`,
      qp: `${h}.qp${cid}.${gen}`,
      dead: false,
      wrBytes: new Map(),
      host: h,
      psnOf: new Map(),
      nextPsn: 0,
      expected: 0,
      conn: k,
    };
    st.cids.set(cid, c);
    byKey.set(key, c);
    const shadow = sys.addMachine(c.cm, m.shadow, { maxCmRetries: TIMING.cmRetries, responseTimeoutNs: TIMING.cmResponseTimeoutNs, timeWaitNs: TIMING.ibTimeWaitNs });
    const qp = sys.addMachine(c.qp, m.qp, { minRnrTimerNs: TIMING.rnrTimerNs });
    const alive = () => !c.dead && !st.removed;
    // rdma_create_qp: the QP is created and moved to INIT before the CM uses it.
    ctx.schedule(0, c.qp, { type: 'modify', to: 'INIT', mask: requiredMask('RESET', 'INIT', 'RC') });

    shadow.route('cm.send', (e, x) => alive() && send(x, h, { kind: 'cm', from: key, msg: e.msg }));
    shadow.route('qp.modify', (e, x) => alive() && x.schedule(0, c.qp, { type: 'modify', to: e.to, mask: e.mask }));
    shadow.route('cm.event', (e, x) => alive() && x.schedule(0, ca(h), { type: 'cm.event', cid, name: e.name }));
    shadow.route('timer.start', (e, x) => {
      if (!alive()) return;
      if (e.timer === 'response') c.respTimer = x.schedule(e.delayNs, c.cm, { type: 'timer.response' });
      else x.schedule(e.delayNs, c.cm, { type: 'timer.timewait' });
    });
    shadow.route('timer.cancel', (_e, x) => {
      if (c.respTimer !== undefined) x.cancel(c.respTimer);
      c.respTimer = undefined;
    });

    if (ib) {
      // The shared fabric carries this QP's packets (PSN order, ACKs, RNR, credits, transport
      // retries); the message identity travels as the work request id, given back on the receive.
      c.ref = ib.attachQp(h, c.qp);
      ib.onCompletion(c.ref, (comp) => {
        if (comp.queue !== 'recv' || comp.status !== 'success' || !alive() || typeof comp.tag !== 'number') return;
        st.bufTag.set(`${sid}:${comp.wrId}`, comp.tag);
        if (c.conn >= 0) {
          // The HCA has written the message into the guest's buffer (zero copy).
          log.conns[c.conn].side[h].delivered.push(comp.tag);
          log.work[h].deliveredBytes += comp.bytes;
        }
      });
      qp.route('rnr.wait', () => void log.seen.rnrRetries++);
    } else {
      qp.route('wire.send', (e, x) => {
        if (!alive()) return;
        if (!c.psnOf.has(e.wr.id)) c.psnOf.set(e.wr.id, c.nextPsn++);
        send(x, h, { kind: 'data', from: key, id: e.wr.id, bytes: e.wr.bytes });
      });
      qp.route('wire.ack', (_e, x) => alive() && send(x, h, { kind: 'ack', from: key }));
      qp.route('wire.rnr-nak', (_e, x) => alive() && send(x, h, { kind: 'rnr-nak', from: key }));
      qp.route('rnr.wait', (e, x) => {
        if (!alive()) return;
        log.seen.rnrRetries++;
        x.schedule(e.delayNs, c.qp, { type: 'rnr.timer' });
      });
    }
    /** A CQE reaches the agent: at once untimed; timed, after the HCA's interrupt and the agent's poll on the VMM core. */
    const toAgent = (x: WiringContext, ev: AnyEvent) => {
      if (!T) {
        x.schedule(0, ca(h), ev);
        return;
      }
      const t = T;
      // A completion whose host lost its device on the way is gone with the device.
      jobAt(x, cores[h].vmm, x.now + t.hostIrqNs, (y) => onCore(y, cores[h].vmm, { vmm: t.vmmCompletionNs }, (z) => alive() && z.schedule(0, ca(h), ev)));
    };
    qp.route('cq.send', (e, x) => alive() && toAgent(x, { type: 'qp.completion', cid, queue: 'send', wrId: e.wrId, bytes: c.wrBytes.get(e.wrId) ?? 0, status: e.status }));
    qp.route('cq.recv', (e, x) => {
      if (!alive()) return;
      if (!ib && e.status === 'success' && c.inflight) {
        st.bufTag.set(`${sid}:${e.wrId}`, c.inflight.id);
        c.expected++;
        if (T && c.conn >= 0) {
          // Timed: the HCA has written the message into the guest's buffer (zero copy) when it
          // completes it; the notice reaches the guest later (and not at all if the device goes).
          log.conns[c.conn].side[h].delivered.push(c.inflight.id);
          log.work[h].deliveredBytes += e.bytes;
        }
      }
      toAgent(x, { type: 'qp.completion', cid, queue: 'recv', wrId: e.wrId, bytes: e.bytes, status: e.status });
    });
    qp.route('modify.failed', (e) => violation('legality', `${c.qp}: modify ${e.from} -> ${e.to} failed (${e.reason})`));
  }

  // ---- the fabric ------------------------------------------------------------------------------
  const lastAt: Record<Host, number> = { A: 0, B: 0 };
  const byKey = new Map<string, CidEntry>();
  function send(ctx: WiringContext, from: Host, msg: FabricMsg): true {
    const at = T ? ibArrival(ctx.now, from, msg) : Math.max(ctx.now + ctx.random.uniformNs(TIMING.fabricMinNs, TIMING.fabricMaxNs), lastAt[from]);
    lastAt[from] = at;
    ctx.scheduleAt(at, 'fabric', { type: 'fabric.arrive', to: peerOf(from), msg });
    return true;
  }
  const qpFatal = (ctx: WiringContext, c: CidEntry, delayNs: number) => {
    const s = valueOf(c.qp);
    if (s !== 'RTS' && s !== 'SQD') return;
    ctx.schedule(delayNs, c.qp, { type: 'hw.send-error' });
    ctx.schedule(delayNs, `${c.host}.hostca`, { type: 'qp.fatal', cid: c.cid, key: c.key });
  };
  const liveEntries = (h: Host) => [...hs[h].cids.values()].filter((c) => !c.dead);

  sys.addComponent('fabric', (ev, ctx) => {
    if (ev.type === 'fault.link-down') {
      linkDown = true;
      log.linkDownAtNs = ctx.now;
      for (const h of HOSTS) if (!hs[h].removed) for (const c of liveEntries(h)) qpFatal(ctx, c, 0);
      return;
    }
    if (ev.type === 'fault.device-removal') {
      const h = (ev as unknown as { host: Host }).host;
      log.removedAtNs[h] = ctx.now;
      ctx.schedule(0, ca(h), { type: 'host.device-removal' });
      for (const c of liveEntries(h)) {
        if (c.peer && !c.peer.dead) qpFatal(ctx, c.peer, TIMING.transportTimeoutNs);
        if (c.respTimer !== undefined) ctx.cancel(c.respTimer);
        if (ib && c.ref && c.conn >= 0) {
          // Messages the HCA already accepted (in the guest's buffer, acknowledged to the sender)
          // whose completion the removal cuts off: they did arrive.
          const fc = ib.connections.find((x) => x.a.name === c.qp || x.b.name === c.qp);
          const into = fc ? fc.dir[fc.b.name === c.qp ? 0 : 1].delivered : [];
          const got = log.conns[c.conn].side[h].delivered;
          for (const tag of into) if (typeof tag === 'number' && !got.includes(tag)) got.push(tag);
        }
      }
      hs[h].removed = true;
      return;
    }
    if (ev.type !== 'fabric.arrive') return;
    const { to, msg } = ev as unknown as { to: Host; msg: FabricMsg };
    if (msg.kind === 'guest-ack') {
      // Variant guest-acks: the peer guest's TCP takes the ACK in an interrupt.
      if (!linkDown && !hs[to].removed && T) virtualIrq(ctx, to, cores[to].tx, { guest: T.guestStackNs }, () => undefined);
      return;
    }
    const from = byKey.get(msg.from)!;
    const lost = linkDown || hs[to].removed || hs[from.host].removed;
    if (lost) {
      // A packet that never gets an acknowledgement: the sender's transport retries run out.
      if (msg.kind === 'data' && !from.dead && !hs[from.host].removed) qpFatal(ctx, from, TIMING.transportTimeoutNs);
      return;
    }
    if (msg.kind === 'cm') {
      if (msg.to !== undefined) {
        // A REJ from the CM of a host nobody listened on: straight to the requester.
        ctx.schedule(0, byKey.get(msg.to)!.cm, { type: 'cm.recv', msg: msg.msg });
        return;
      }
      if (!from.peer && msg.msg === 'REQ') {
        const listener = liveEntries(to).find((c) => valueOf(c.cm) === 'LISTEN');
        if (!listener) {
          // ib_cm answers a REQ for a service id nobody listens on with a REJ.
          send(ctx, to, { kind: 'cm', from: from.key, to: from.key, msg: 'REJ' });
          return;
        }
        from.peer = listener;
        listener.peer = from;
        if (ib) ib.pairRc(from.ref!, listener.ref!);
      }
      const target = from.peer;
      if (target && !target.dead) ctx.schedule(0, target.cm, { type: 'cm.recv', msg: msg.msg });
      return;
    }
    const target = from.peer;
    if (!target || target.dead) return;
    if (msg.kind === 'data') {
      // The responder's PSN check: only the next expected packet is taken.
      // The responder's PSN check, made when the packet reaches the QP: only the next expected
      // packet is taken (after an RNR NAK the following ones are dropped until the resend;
      // duplicates are dropped).
      ctx.schedule(0, target.qp, () => {
        if (from.psnOf.get(msg.id) !== target.expected) return { type: 'fabric.psn-drop', psn: from.psnOf.get(msg.id) ?? -1 };
        target.inflight = { id: msg.id };
        return { type: 'wire.receive', bytes: msg.bytes };
      });
    } else {
      ctx.schedule(0, target.qp, { type: msg.kind === 'ack' ? 'wire.ack' : 'wire.rnr-nak' });
    }
  });

  // ---- applications and the driver ---------------------------------------------------------------
  function addApp(h: Host): void {
    const st = hs[h];
    const sock = (k: number) => log.conns[k].side[h].socket!;
    const maybeDone = (k: number, ctx: WiringContext) => {
      const side = log.conns[k].side[h];
      if (side.done || !side.socket || valueOf(side.socket) !== 'CLOSED') return;
      side.done = true;
      ctx.schedule(0, 'driver', { type: 'side-done', conn: k, host: h });
    };
    const maybeClose = (k: number, ctx: WiringContext) => {
      const conn = log.conns[k];
      const side = conn.side[h];
      const sends = h === 'A' ? conn.plan.sendsA : conn.plan.sendsB;
      const peerSends = h === 'A' ? conn.plan.sendsB : conn.plan.sendsA;
      const state = valueOf(sock(k));
      if (side.closeScheduled || (state !== 'ESTABLISHED' && state !== 'CLOSE-WAIT')) return;
      if (side.sendsCompleted < sends) return;
      if (state === 'ESTABLISHED' && side.received < peerSends) return;
      side.closeScheduled = true;
      ctx.schedule(ctx.random.chance(0.3) ? 0 : ctx.random.uniformNs(0, 30_000), sock(k), { type: 'app.close' });
    };
    const later = (r: Random, maxNs: number) => r.uniformNs(0, maxNs);

    // Scripted workloads: operations in order; a send hands its messages to the socket while fewer
    // than `sendWindow` of this side's messages are unacknowledged (the socket send buffer); the
    // receiver keeps `recvAhead` buffers posted and reposts one per message it takes.
    interface Lane {
      readonly idx: readonly number[];
      i: number;
      left?: number;
      lastBytes: number;
    }
    interface Run {
      readonly ops: readonly AppOp[];
      readonly lanes: Lane[];
      inFlight: number;
      got: number;
      posted: number;
      readonly recvTotal: number;
    }
    const runs = new Map<number, Run>();
    const postRecv = (k: number, r: Run, ctx: WiringContext) => {
      r.posted++;
      ctx.schedule(0, sock(k), { type: 'app.recv' });
    };
    const step = (k: number, ctx: WiringContext) => {
      const r = runs.get(k)!;
      const side = log.conns[k].side[h];
      for (const lane of r.lanes) {
        while (lane.i < lane.idx.length) {
          const o = r.ops[lane.idx[lane.i]];
          if (lane.left === undefined) {
            lane.left = messagesOf(o.bytes, recvBufferBytes);
            lane.lastBytes = o.bytes - (lane.left - 1) * recvBufferBytes;
          }
          if (o.op === 'send') {
            while (lane.left > 0 && r.inFlight < sendWindow) {
              ctx.schedule(0, sock(k), { type: 'app.send', bytes: lane.left === 1 ? lane.lastBytes : recvBufferBytes });
              lane.left--;
              r.inFlight++;
            }
          } else {
            const take = Math.min(lane.left, r.got);
            lane.left -= take;
            r.got -= take;
          }
          if (lane.left > 0) break;
          side.opDoneNs.push(ctx.now);
          side.opDoneIndex.push(lane.idx[lane.i]);
          side.opBusyNs.push({ A: busyOf('A'), B: busyOf('B') });
          lane.i++;
          lane.left = undefined;
        }
      }
      if (r.lanes.every((l) => l.i === l.idx.length)) maybeClose(k, ctx);
    };
    sys.addComponent(app(h), (ev, ctx) => {
      const e = ev as EventObject & { conn: number; name?: VtoeEventName; reason?: SocketError; queue?: string; status?: string };
      const conn = log.conns[e.conn];
      const side = conn?.side[h];
      switch (e.type) {
        case 'start': {
          const name = `${h}.sock${e.conn}`;
          side.socket = name;
          const s = sys.addMachine(name, m.socket, { timeWaitNs: TIMING.tcpTimeWaitNs });
          const sidNow = () => side.sid!;
          /** A command register write: the socket module's work, then a VM exit that hands it to the NIC. */
          const exit = (x: WiringContext, ev2: AnyEvent) => {
            if (!T) {
              x.schedule(TIMING.vmExitNs, nic(h), ev2);
              return;
            }
            log.work[h].vmExits++;
            onCore(x, cores[h].tx, { guest: T.socketOpNs, vmm: T.vmExitNs }, (y) => y.schedule(0, nic(h), ev2));
          };
          /** A VWQE placed in the SWQ/RWQ and the doorbell rung (a VM exit), after `guestNs` of socket-module work. */
          const post = (x: WiringContext, vwqe: AnyEvent, guestNs: number, core: Core) => {
            if (!T) {
              x.schedule(0, nic(h), vwqe);
              exit(x, { type: 'guest.doorbell' });
              return;
            }
            log.work[h].vmExits++;
            onCore(x, core, { guest: guestNs, vmm: T.vmExitNs }, (y) => {
              y.schedule(0, nic(h), vwqe);
              y.schedule(0, nic(h), { type: 'guest.doorbell' });
            });
          };
          s.route('vtoe.connect', (_x, x) => exit(x, { type: 'guest.command', cmd: 'CONNECT', sid: sidNow() } as EventObject));
          s.route('vtoe.listen', (_x, x) => exit(x, { type: 'guest.command', cmd: 'LISTEN', sid: sidNow() } as EventObject));
          s.route('vtoe.accept', (_x, x) => exit(x, { type: 'guest.command', cmd: 'ACCEPT', sid: sidNow() } as EventObject));
          s.route('vtoe.disconnect', (_x, x) => exit(x, { type: 'guest.command', cmd: 'DISCONNECT', sid: sidNow() } as EventObject));
          s.route('vtoe.abort', (_x, x) => exit(x, { type: 'guest.command', cmd: 'DISCONNECT', sid: sidNow() } as EventObject));
          s.route('vtoe.send', (x2, x) => {
            // send(): the socket module copies the application's data into its own buffer (§5.3.1), which the HCA then reads.
            if (T) log.work[h].guestCopyBytes += x2.bytes;
            post(x, { type: 'guest.post-send', sid: sidNow(), bytes: x2.bytes }, T ? T.socketOpNs + T.copyNs(x2.bytes) : 0, cores[h].tx);
          });
          s.route('vtoe.recv', (_x, x) => {
            post(x, { type: 'guest.post-recv', sid: sidNow(), bufferId: side.nextBuf++, bytes: recvBufferBytes }, T ? T.socketOpNs : 0, cores[h].rx);
          });
          s.route('timer.start', (x2, x) => x.schedule(x2.delayNs, name, { type: 'timer.timewait' }));
          s.route('app.connected', (_x, x) => x.schedule(0, app(h), { type: 'sock.connected', conn: e.conn }));
          s.route('app.error', (x2, x) => x.schedule(0, app(h), { type: 'sock.error', conn: e.conn, reason: x2.reason }));
          s.route('app.closed', (_x, x) => x.schedule(0, app(h), { type: 'sock.closed', conn: e.conn }));
          st.pending.push(e.conn);
          ctx.schedule(0, ca(h), { type: 'vtoe.socket' });
          return;
        }
        case 'no-socket':
          side.done = true;
          ctx.schedule(0, 'driver', { type: 'stop' });
          return;
        case 'sid':
          ctx.schedule(later(ctx.random, 5_000), sock(e.conn), { type: h === 'A' ? 'app.connect' : 'app.listen' });
          return;
        case 'sock.event':
          if (h === 'B' && e.name === 'CONNECT_REQUEST') ctx.schedule(later(ctx.random, 50_000), sock(e.conn), { type: 'app.accept' });
          maybeDone(e.conn, ctx);
          return;
        case 'sock.connected': {
          side.established = true;
          log.seen.established++;
          const script = conn.plan.script?.[h];
          if (script) {
            const recvTotal = script.reduce((n, o) => n + (o.op === 'recv' ? messagesOf(o.bytes, recvBufferBytes) : 0), 0);
            const all = script.map((_o, i) => i);
            const lanes = conn.plan.independent
              ? [all.filter((i) => script[i].op === 'send'), all.filter((i) => script[i].op === 'recv')]
              : [all];
            const r: Run = { ops: script, lanes: lanes.map((idx) => ({ idx, i: 0, lastBytes: 0 })), inFlight: 0, got: 0, posted: 0, recvTotal };
            runs.set(e.conn, r);
            while (r.posted < Math.min(recvAhead, recvTotal)) postRecv(e.conn, r, ctx);
            step(e.conn, ctx);
            return;
          }
          const sends = h === 'A' ? conn.plan.sendsA : conn.plan.sendsB;
          const peerSends = h === 'A' ? conn.plan.sendsB : conn.plan.sendsA;
          let t = 0;
          for (let i = 0; i < sends; i++) {
            t += later(ctx.random, 20_000);
            ctx.schedule(t, sock(e.conn), { type: 'app.send', bytes });
          }
          // Receive buffers, sometimes late (the peer then meets receiver-not-ready).
          t = ctx.random.chance(0.5) ? later(ctx.random, 60_000) : 0;
          for (let i = 0; i < peerSends; i++) {
            t += later(ctx.random, 10_000);
            ctx.schedule(t, sock(e.conn), { type: 'app.recv' });
          }
          ctx.schedule(t + 1, app(h), { type: 'check-close', conn: e.conn });
          return;
        }
        case 'check-close':
        case 'sock.peer-fin':
          maybeClose(e.conn, ctx);
          return;
        case 'completion': {
          if (e.queue === 'send') side.sendsCompleted++;
          else if (e.status === 'success') side.received++;
          const r = runs.get(e.conn);
          if (r && e.status === 'success') {
            if (e.queue === 'send') r.inFlight--;
            else r.got++;
            // The application acts on what it got first; the socket module then replenishes the buffer.
            step(e.conn, ctx);
            if (e.queue === 'recv' && r.posted < r.recvTotal) postRecv(e.conn, r, ctx);
            return;
          }
          maybeClose(e.conn, ctx);
          return;
        }
        case 'sock.error':
          if (e.reason && FATAL.includes(e.reason)) side.errors.push(e.reason);
          // A passive connection that failed leaves the listener in LISTEN: this app closes it.
          if (h === 'B' && valueOf(sock(e.conn)) === 'LISTEN') ctx.schedule(0, sock(e.conn), { type: 'app.close' });
          maybeDone(e.conn, ctx);
          return;
        case 'sock.closed':
          maybeDone(e.conn, ctx);
          return;
        case 'close-listener':
          if (valueOf(sock(e.conn)) === 'LISTEN') ctx.schedule(0, sock(e.conn), { type: 'app.close' });
          return;
      }
    });
  }

  // The driver runs the connections one after another: B listens first (if the plan says so),
  // then A connects; when A's side is over, a listener left waiting is closed; when both sides
  // are over the next connection starts.
  let current = -1;
  let nextFor = -1;
  let stopped = false;
  sys.addComponent('driver', (ev, ctx) => {
    const e = ev as EventObject & { conn: number; host: Host };
    switch (e.type) {
      case 'next': {
        if (stopped) return;
        current++;
        if (current >= log.conns.length) return;
        const plan = log.conns[current].plan;
        if (plan.listen) ctx.schedule(0, app('B'), { type: 'start', conn: current });
        else ctx.schedule(0, app('A'), { type: 'start', conn: current });
        return;
      }
      case 'listening':
        if (e.conn === current && !log.conns[current].side.A.socket) ctx.schedule(ctx.random.uniformNs(0, 20_000), app('A'), { type: 'start', conn: current });
        return;
      case 'stop':
        stopped = true;
        for (const h of HOSTS) {
          const side = log.conns[current]?.side[h];
          if (side?.socket && !side.done) ctx.schedule(0, app(h), { type: 'close-listener', conn: current });
        }
        return;
      case 'side-done': {
        const c = log.conns[e.conn];
        if (e.host === 'A' && c.side.B.socket && !c.side.B.done) ctx.schedule(0, app('B'), { type: 'close-listener', conn: e.conn });
        if (e.host === 'B' && !c.side.A.socket && !stopped) {
          // The listener failed before A started (device removed): nothing more to do on B.
        }
        const aOver = c.side.A.done || (!c.side.A.socket && (stopped || c.side.B.done));
        const bOver = c.side.B.done || !c.side.B.socket;
        // Both sides may finish at the same instant: the next connection is started once.
        if (aOver && bOver && e.conn === current && nextFor !== current) {
          nextFor = current;
          ctx.schedule(ctx.random.uniformNs(0, 200_000), 'driver', { type: 'next' });
        }
        return;
      }
    }
  });

  sys.scheduleAt(0, 'driver', { type: 'next' });
  if (opts.fault?.kind === 'link-down') {
    sys.scheduleAt(opts.fault.atNs, 'fabric', { type: 'fault.link-down' });
    // The one link between the hosts is A's cable to the switch (both directions are lost).
    ib?.fault({ kind: 'port-down', host: 'A', atNs: opts.fault.atNs });
  }
  if (opts.fault?.kind === 'device-removal') {
    sys.scheduleAt(opts.fault.atNs, 'fabric', { type: 'fault.device-removal', host: opts.fault.host });
    ib?.fault({ kind: 'device-removal', host: opts.fault.host, atNs: opts.fault.atNs });
  }

  // ---- step monitors ---------------------------------------------------------------------------
  const lastSocketState = new Map<string, string>();
  sys.recorder.observe((r) => {
    if (r.kind !== 'event') return;
    const h = r.component[0] as Host;
    if (r.component.includes('.sock')) {
      const was = lastSocketState.get(r.component);
      const now = valueOf(r.component);
      lastSocketState.set(r.component, now);
      const k = Number(r.component.slice(r.component.indexOf('.sock') + 5));
      if (!log.conns[k].side[h].visited.includes(now)) log.conns[k].side[h].visited.push(now);
      if (now === 'ESTABLISHED' && was !== 'ESTABLISHED') {
        const sid = log.conns[k].side[h].sid!;
        const agentCtx = sys.snapshot(ca(h)).context as { sidToCid: (number | null)[] };
        const cid = agentCtx.sidToCid[sid];
        const c = cid === null ? undefined : hs[h].cids.get(cid);
        const phase = (sys.snapshot(ca(h)).context as { sids: ({ phase: string } | null)[] }).sids[sid]?.phase;
        if (hs[h].removed) {
          // The device is gone and DEVICE_REMOVAL is on its way to the socket.
        } else if (!c || c.dead) violation('correspondence', `${r.component} ESTABLISHED with no shadow connection`);
        else {
          const cm = valueOf(c.cm);
          const qp = valueOf(c.qp);
          // The exceptions: the host already tore the connection down (a fault raced the
          // establishment) and the guest's DISCONNECTED is on its way, or the device is gone
          // (both are checked at quiescence: the socket must end CLOSED).
          const tornDown = phase === 'closing' || phase === 'time-wait';
          if ((cm !== 'ESTABLISHED' || qp !== 'RTS') && !tornDown) violation('correspondence', `${r.component} ESTABLISHED while its shadow connection is ${cm} and its QP ${qp}`);
        }
      }
    } else if (r.component.endsWith('.ca')) {
      const c = sys.snapshot(r.component).context as { sidToCid: (number | null)[]; cidToSid: (number | null)[] };
      for (const [sid, cid] of c.sidToCid.entries()) if (cid !== null && c.cidToSid[cid] !== sid) violation('bijection', `${r.component}: SID ${sid} -> CID ${cid} -> ${String(c.cidToSid[cid])}`);
      for (const [cid, sid] of c.cidToSid.entries()) if (sid !== null && c.sidToCid[sid] !== cid) violation('bijection', `${r.component}: CID ${cid} -> SID ${sid} -> ${String(c.sidToCid[sid])}`);
    } else if (r.component.includes('.cm') && r.type === 'cm.recv') {
      const s = sys.snapshot(r.component).context as { stats: { simultaneousDisconnects: number } };
      if (s.stats.simultaneousDisconnects > 0 && valueOf(r.component) === 'DREQ_RCVD') log.seen.simultaneousCloses++;
    }
  });

  return {
    system: sys,
    log,
    opts,
    cpu: {
      busyNs: (h: Host, kind?: CpuKind) => {
        if (h !== 'A' && h !== 'B') throw new RangeError(`cpu.busyNs: host must be 'A' or 'B', got ${String(h)}`);
        if (kind !== undefined && kind !== 'user' && kind !== 'guest' && kind !== 'vmm') throw new RangeError(`cpu.busyNs: kind must be 'user', 'guest', 'vmm' or undefined, got ${String(kind)}`);
        return busyOf(h, kind);
      },
    },
    liveCids: () =>
      HOSTS.flatMap((h) => (hs[h].removed ? [] : liveEntries(h).map((c) => ({ host: h, cid: c.cid, cm: c.cm, qp: c.qp })))),
  };
}

/** Runs to quiescence (bounded, so that a wiring bug fails instead of hanging). */
export function runVtoePath(opts: VtoePathOptions, maxEvents = 200_000): VtoePath & { stoppedBy: string } {
  const path = buildVtoePath(opts);
  const r = path.system.run({ maxEvents });
  return { ...path, stoppedBy: r.stoppedBy };
}
