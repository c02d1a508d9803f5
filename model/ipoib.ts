/**
 * IP over InfiniBand: the host's IPoIB network device, for the `native-ipoib` and `vnet-ipoib`
 * configurations (calibration.md "Testbed": Mellanox MT26428 HCA, "IPoIB MTU 65520").
 *
 * Mode. IPoIB has a datagram mode over Unreliable Datagram QPs (RFC 4391), whose MTU is the IB MTU
 * less the 4-byte IPoIB header (2048 - 4 = 2044 on the testbed's 2 KB fabric), and a connected mode
 * over Reliable Connected QPs (RFC 4755), whose Linux MTU goes up to 64 KB - 0x10 = 65520 bytes
 * (Linux Documentation/infiniband/ipoib.rst "Datagram vs Connected modes"; commit edcd2a7 "datagram
 * mode up to 4K, connected mode up to (64K - 0x10)"). A 65520-byte MTU exists only in connected
 * mode, so the testbed ran connected mode: this device is IPoIB-CM over RC.
 *
 * What one host's device does (per host h, components `${h}.nic` and `${h}.cq`, on the system's
 * InfiniBand fabric, model/ib-fabric.ts, made by the first host's device):
 *
 * - Transmit (`${h}.nic` gets `{ type: 'tx', now, frame }`): the IPv4 packet inside the Ethernet
 *   frame gets the 4-byte IPoIB header (RFC 4391 §6: EtherType + reserved) and is posted as one RC
 *   SEND of header + packet. The driver's transmit work (per packet, plus the software checksum
 *   connected mode forces, per byte) runs on the host's IPoIB core. At most `IPOIB_SENDQ_SIZE`
 *   sends are outstanding (posted, not completed); more wait in the device queue
 *   (`tx_queue_len` = 2 x send queue) and beyond that are dropped.
 * - The fabric carries each SEND on the RC connection between the two hosts (one per pair of
 *   hosts, as IPoIB-CM connects to each neighbour): segmentation to the 2 KB path MTU, headers,
 *   PCIe DMA, link and switch, ACKs and end-to-end credits (model/ib-fabric.ts). Each host posts
 *   `IPOIB_RECVQ_SIZE` receive buffers of MTU + 4 bytes per connection and reposts one after each
 *   receive. Linux IPoIB-CM receives through one shared receive queue of that size and connects with
 *   rnr_retry_count 0 (an SRQ advertises no credits, so a SEND finding it empty fails); the model's
 *   per-connection queue with credits holds the sender back instead. With TCP's window far below
 *   256 packets in flight, the two agree.
 * - Completions: receive completions and, because connected-mode send queues share the receive CQ
 *   (ipoib_cm_create_tx_qp: send_cq = recv_cq), send completions go to one completion queue with
 *   one interrupt and one NAPI instance: the `host-nic` machine as `${h}.cq` (no coalescing:
 *   rx-frames 1, rx-usecs 0; NAPI weight `IPOIB_NAPI_WEIGHT`), so its catalog invariants (the NAPI
 *   contract) are checked during every run.
 * - Receive: each received completion costs the driver per packet and per byte (the checksum) on
 *   the IPoIB core; then the IPoIB header is replaced by an Ethernet header (the frame's own
 *   destination and source MACs, which stand for the IB addresses of the neighbour entry), so the
 *   path above sees the frame it would have had from an Ethernet NIC, and `${h}.nic` emits
 *   `{ type: 'host.rx', frame }`. The receive buffer is reposted then.
 *   Each send completion costs `ipoibTxCompletionCyclesPerPacket` and emits
 *   `{ type: 'tx.complete', frameId }` (workloads pace on it).
 *
 * One IPoIB core per host, the path's host kernel core: the interrupt's CPU runs the NAPI poll
 * (receives and send completions), and transmits are mostly started from there too, since TCP
 * transmits when an ACK arrives. So in a bi-stream test each host's one core carries both
 * directions' driver work: the mechanism by which calibration.md's "each stream drops to half" may
 * arise (not forced: it depends on the costs).
 */
import type { Frame } from '../machines/virtio-ring.js';
import { hostNicMachine } from '../machines/host-nic.js';
import { ETHERTYPE_IPV4 } from '../machines/packet.js';
import { cycles, type Costs } from './costs.js';
import { IbFabric, type IbCompletion, type IbFabricOptions, type QpRef, type RcConnection } from './ib-fabric.js';
import type { System, SystemOptions, WiringContext } from './wiring.js';
import { buildHostsPath, type CoreKind, type HostDevice, type TwoHostPath } from './overlay-path.js';
import type { WorkloadRunners } from './experiments.js';
import { measureRttUs } from './ping.js';
import { tcpThroughputRunner } from './tcp.js';
import { mpiRunner } from './mpi.js';
import { measureHpcc } from './hpcc.js';
import { measureUdpGoodput, TTCP_DURATION_NS, TTCP_DURATION_QUICK_NS } from './ttcp.js';

export type IbHostName = 'A' | 'B' | 'C' | 'D' | 'E' | 'F';

/** Send queue entries of each connected-mode QP: Linux ipoib_sendq_size default (IPOIB_TX_RING_SIZE 128). */
export const IPOIB_SENDQ_SIZE = 128;
/** Receive buffers of the shared receive queue: Linux ipoib_recvq_size default (IPOIB_RX_RING_SIZE 256). */
export const IPOIB_RECVQ_SIZE = 256;
/** Device queue in front of the send queue: Linux ipoib sets tx_queue_len = ipoib_sendq_size * 2. */
export const IPOIB_TXQUEUE_LEN = 2 * IPOIB_SENDQ_SIZE;
/** NAPI weight of the IPoIB poll (Linux 2.6.30 ipoib_main.c netif_napi_add(..., 100); medium confidence). */
export const IPOIB_NAPI_WEIGHT = 100;
/** Largest IPoIB connected-mode MTU in Linux: 64 KB - 0x10 (IPOIB_CM_MTU). */
export const IPOIB_CM_MAX_MTU = 0x10000 - 0x10;

export interface IpoibDeviceOptions {
  readonly costs: Costs;
  /** IPoIB MTU: largest IP packet (default costs.ipoibMtuBytes, 65520). */
  readonly mtu?: number;
  /** Deliberately broken variants, for tests that must see a property fail. */
  readonly broken?: {
    /** Tell the HCA the SEND is only the 4-byte header long while handing the peer the whole packet. */
    readonly shortPost?: boolean;
    /** Broken fabric hardware (model/ib-fabric.ts). */
    readonly fabric?: IbFabricOptions['broken'];
    /** Post receive buffers of this many bytes instead of MTU + header: a longer SEND fails (local length error, the QP goes to ERR) and its packet is lost. */
    readonly rxBufferBytes?: number;
    /** Raise the completion interrupt only once this many completions are pending, with no timer (ethtool rx-frames N, rx-usecs 0). */
    readonly cqFrames?: number;
  };
}

export interface IpoibStats {
  /** Driver busy time on the host's IPoIB core, ns since 0. */
  busyNs: number;
  txPackets: number;
  rxPackets: number;
  txCompletions: number;
  /** Dropped: device queue full, too large for the MTU, not IPv4. */
  dropsQueueFull: number;
  dropsTooLarge: number;
  dropsNotIpv4: number;
  /** Completions with an error status (a SEND that failed: its packet is lost). */
  errorCompletions: number;
}

interface HostState {
  readonly stats: IpoibStats;
  /** When the driver's latest work on its core ends, ns. */
  coreFree: number;
  /** Sends posted and not completed. */
  outstanding: number;
  /** This host's RC queue pair to each peer. */
  readonly qps: Map<IbHostName, QpRef>;
  nextWr: number;
  /** Posts an RC SEND to `to` after `delayNs`; reposts a receive buffer on `qp`. Set when the device is set up. */
  post: (to: IbHostName, m: IpoibMessage, delayNs: number) => void;
  repost: (qp: QpRef, delayNs: number) => void;
  pollScheduled: boolean;
}

const states = new WeakMap<System, Map<IbHostName, HostState>>();

function hostState(sys: System, h: IbHostName): HostState {
  let m = states.get(sys);
  if (!m) states.set(sys, (m = new Map()));
  let s = m.get(h);
  if (!s) {
    s = {
      stats: { busyNs: 0, txPackets: 0, rxPackets: 0, txCompletions: 0, dropsQueueFull: 0, dropsTooLarge: 0, dropsNotIpv4: 0, errorCompletions: 0 },
      coreFree: 0,
      outstanding: 0,
      qps: new Map(),
      nextWr: 0,
      post: () => {
        throw new Error(`IPoIB on ${h}: no device set up`);
      },
      repost: () => {},
      pollScheduled: false,
    };
    m.set(h, s);
  }
  return s;
}

/** The device counters of host `h` in `sys` (zeros if the host has no IPoIB device). */
export function ipoibStats(sys: System, h: IbHostName): Readonly<IpoibStats> {
  return { ...hostState(sys, h).stats };
}

/** The IPoIB device's wire form of an IPv4 packet: the 4-byte header (EtherType, reserved) then the packet. */
export function ipoibEncapsulate(ipPacket: Uint8Array, etherType = ETHERTYPE_IPV4): Uint8Array {
  const out = new Uint8Array(4 + ipPacket.length);
  out[0] = etherType >> 8;
  out[1] = etherType & 0xff;
  out.set(ipPacket, 4);
  return out;
}

function checkOptions(o: IpoibDeviceOptions): number {
  if (typeof o !== 'object' || o === null) throw new RangeError('ipoibDevice: options must be an object { costs, mtu? }');
  if (typeof o.costs !== 'object' || o.costs === null) throw new RangeError('ipoibDevice: costs must be a Costs object (model/costs.ts checkCosts)');
  const mtu = o.mtu ?? o.costs.ipoibMtuBytes;
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > IPOIB_CM_MAX_MTU) {
    throw new RangeError(`ipoibDevice: mtu = ${String(mtu)} is not allowed; expected an integer from 68 to ${IPOIB_CM_MAX_MTU} bytes (connected mode)`);
  }
  return mtu;
}

/** Ethernet addresses the path uses, carried beside the IPoIB packet as its IB addresses are (the neighbour entry and the connection). */
interface LinkAddresses {
  /** The frame's 12 bytes of destination and source MAC. */
  readonly macs: Uint8Array;
}

/** A completion-queue entry: a received message, or the completion of a send. */
type CqEntry = { readonly kind: 'rx'; readonly data: Uint8Array; readonly link: LinkAddresses; readonly qp: QpRef } | { readonly kind: 'tx'; readonly frameId: number };

const macText = (d: Uint8Array) => Array.from(d.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');

/**
 * The IPoIB device as the path's `device` option (model/overlay-path.ts `HostDevice`): for host `h`
 * adds `${h}.nic` (driver; `tx` in, `host.rx`, `tx.complete` and `drop` out), `${h}.cq` (a
 * `host-nic` machine as the completion queue with its interrupt and NAPI), and on the first call
 * the system's InfiniBand fabric with one RC connection per pair of hosts. A frame goes to the
 * host `owner` names for its destination MAC; the driver's work runs on `cpu`'s `host` core (or
 * on a core of its own when called without one, as a test harness does).
 */
export function ipoibDevice(
  o: IpoibDeviceOptions,
): (sys: System, h: IbHostName, hosts: readonly IbHostName[], owner: (mac: string) => IbHostName | undefined, cpu?: { use(kind: CoreKind, now: number, ns: number): number }) => void {
  const mtu = checkOptions(o);
  const c = o.costs;
  const ns = (n: number) => cycles(n, c.cpuHz);

  return (sys, h, hosts, owner, cpu) => {
    const me = hostState(sys, h);
    const nicName = `${h}.nic`;
    const cqName = `${h}.cq`;

    /** Runs `work` ns of driver time on the IPoIB core (the path's host kernel core, when given) from `now`; returns when it ends. */
    const onCore = (now: number, work: number): number => {
      me.stats.busyNs += work;
      const end = cpu ? cpu.use('host', now, work) : Math.max(now, me.coreFree) + work;
      return (me.coreFree = Math.max(me.coreFree, end));
    };

    const xmit = (now: number, frame: Frame, to: IbHostName, ctx: WiringContext) => {
      const data = frame.data!;
      const packet = ipoibEncapsulate(data.subarray(14));
      me.outstanding++;
      me.stats.txPackets++;
      const done = onCore(now, ns(c.ipoibTxCyclesPerPacket + c.ipoibChecksumCyclesPerByte * (packet.length - 4)));
      me.post(to, { frameId: frame.id, data: packet, link: { macs: data.slice(0, 12) } }, done - ctx.now);
    };
    const backlog: { frame: Frame; to: IbHostName }[] = [];

    sys.addComponent(nicName, (e, ctx) => {
      switch (e.type) {
        case 'tx': {
          const frame = (e as unknown as { frame: Frame }).frame;
          const data = frame?.data;
          if (!(data instanceof Uint8Array) || data.length < 14 || ((data[12] << 8) | data[13]) !== ETHERTYPE_IPV4) {
            me.stats.dropsNotIpv4++;
            ctx.emit({ type: 'drop', frame, reason: 'not-ipv4' });
            return;
          }
          if (data.length - 14 > mtu) {
            me.stats.dropsTooLarge++;
            ctx.emit({ type: 'drop', frame, reason: 'too-large' });
            return;
          }
          const to = owner(macText(data));
          if (!to || to === h) throw new Error(`${nicName}: a frame to ${macText(data)}, which no other host owns`);
          if (me.outstanding < IPOIB_SENDQ_SIZE && backlog.length === 0) xmit(ctx.now, frame, to, ctx);
          else if (backlog.length < IPOIB_TXQUEUE_LEN) backlog.push({ frame, to });
          else {
            me.stats.dropsQueueFull++;
            ctx.emit({ type: 'drop', frame, reason: 'queue-full' });
          }
          return;
        }
        case 'napi.poll':
          me.pollScheduled = false;
          ctx.schedule(0, cqName, (now: number) => ({ type: 'driver.poll', now }));
          ctx.schedule(0, nicName, { type: 'napi.after' });
          return;
        case 'napi.after':
          // Budget used up: NAPI stays scheduled and polls again once the core is free.
          if (sys.snapshot(cqName).context.masked && !me.pollScheduled) {
            me.pollScheduled = true;
            ctx.scheduleAt(Math.max(ctx.now, me.coreFree), nicName, { type: 'napi.poll' });
          }
          return;
        case 'rx.up': {
          const { id, data, link, qp } = e as unknown as { id: number; data: Uint8Array; link: LinkAddresses; qp: QpRef };
          const frameData = new Uint8Array(14 + data.length - 4);
          frameData.set(link.macs, 0);
          frameData.set(data.subarray(0, 2), 12);
          frameData.set(data.subarray(4), 14);
          me.repost(qp, 0);
          ctx.emit({ type: 'host.rx', frame: { id, bytes: frameData.length, data: frameData } });
          return;
        }
        case 'tx.done': {
          me.outstanding--;
          ctx.emit({ type: 'tx.complete', frameId: (e as unknown as { frameId: number }).frameId });
          while (me.outstanding < IPOIB_SENDQ_SIZE && backlog.length > 0) {
            const next = backlog.shift()!;
            xmit(ctx.now, next.frame, next.to, ctx);
          }
          return;
        }
      }
    });

    // The completion queue with its interrupt and NAPI: no coalescing, one entry per completion.
    const cq = sys.addMachine(cqName, hostNicMachine, {
      // Every receive buffer and send of every connection may complete before a poll: no CQ overrun.
      rxQueueSize: (hosts.length - 1) * (IPOIB_RECVQ_SIZE + IPOIB_SENDQ_SIZE) + 1,
      rxUsecs: 0,
      rxFrames: o.broken?.cqFrames ?? 1,
      napiBudget: IPOIB_NAPI_WEIGHT,
    });
    cq.route('irq', (_e, ctx) => {
      if (me.pollScheduled) return;
      me.pollScheduled = true;
      // The hard interrupt and the softirq that runs the poll are work on the core.
      ctx.scheduleAt(onCore(ctx.now, ns(c.ipoibIrqToPollCycles)), nicName, { type: 'napi.poll' });
    });
    const entries = new Map<number, CqEntry>();
    let nextEntry = 0;
    cq.route('host.rx', (e, ctx) => {
      const entry = entries.get(e.frame.id);
      if (!entry) throw new Error(`${cqName}: completion ${e.frame.id} has no entry`);
      entries.delete(e.frame.id);
      if (entry.kind === 'rx') {
        me.stats.rxPackets++;
        const done = onCore(ctx.now, ns(c.ipoibRxCyclesPerPacket + c.ipoibChecksumCyclesPerByte * (entry.data.length - 4)));
        ctx.scheduleAt(done, nicName, { type: 'rx.up', id: e.frame.id, data: entry.data, link: entry.link, qp: entry.qp });
      } else {
        me.stats.txCompletions++;
        const done = onCore(ctx.now, ns(c.ipoibTxCompletionCyclesPerPacket));
        ctx.scheduleAt(done, nicName, { type: 'tx.done', frameId: entry.frameId });
      }
    });
    /** The HCA wrote a completion (after its DMA): an entry in the CQ. */
    const complete = (entry: CqEntry, bytes: number, ctx: WiringContext) => {
      const id = ++nextEntry;
      entries.set(id, entry);
      ctx.schedule(0, cqName, (now: number) => ({ type: 'wire.rx', now, frame: { id, bytes } }));
    };

    // One RC connection per pair of hosts (the first of the two to be set up makes it), with the
    // connected-mode queue depths; receive buffers of MTU + header posted at once.
    const shared = fabricOf(sys, hosts, c, o);
    const rxBuffer = o.broken?.rxBufferBytes ?? mtu + c.ipoibHeaderBytes;
    const sendFrames = new Map<number, number>();
    for (const peer of hosts) {
      if (peer === h) continue;
      const key = [h, peer].sort().join('-');
      let conn = shared.conns.get(key);
      if (!conn) {
        conn = shared.fabric.connectRc(h, peer, { sqDepth: IPOIB_SENDQ_SIZE, rqDepth: IPOIB_RECVQ_SIZE });
        shared.conns.set(key, conn);
      }
      const qp = conn.a.host === h ? conn.a : conn.b;
      me.qps.set(peer, qp);
      for (let i = 0; i < IPOIB_RECVQ_SIZE; i++) shared.fabric.postRecv(qp, { id: ++me.nextWr, bytes: rxBuffer });
      shared.fabric.onCompletion(qp, (done: IbCompletion, ctx) => {
        const tag = done.tag as IpoibMessage;
        if (done.queue === 'send') {
          // A failed send still frees its slot (its packet is lost). A send flushed by a QP in
          // error carries no tag: its frame is known by the work request.
          if (done.status !== 'success') me.stats.errorCompletions++;
          const frameId = sendFrames.get(done.wrId) ?? tag.frameId;
          sendFrames.delete(done.wrId);
          complete({ kind: 'tx', frameId }, 1, ctx);
        } else if (done.status === 'success') {
          complete({ kind: 'rx', data: tag.data, link: tag.link, qp }, tag.data.length, ctx);
        } else {
          // A failed receive (a message longer than its buffer; a flush): the packet is lost. The
          // buffer is not reposted: after an error the QP is in ERR and would flush it at once.
          me.stats.errorCompletions++;
        }
      });
    }
    me.post = (to, m, delayNs) => {
      const qp = me.qps.get(to)!;
      const bytes = o.broken?.shortPost ? c.ipoibHeaderBytes : m.data.length;
      const id = ++me.nextWr;
      sendFrames.set(id, m.frameId);
      shared.fabric.postSend(qp, { id, bytes, tag: m }, delayNs);
    };
    me.repost = (qp, delayNs) => shared.fabric.postRecv(qp, { id: ++me.nextWr, bytes: rxBuffer }, delayNs);
  };
}

/** What one RC SEND of the device carries (its bytes, and the link addresses the neighbour entry stands for). */
interface IpoibMessage {
  readonly frameId: number;
  readonly data: Uint8Array;
  readonly link: LinkAddresses;
}

const fabrics = new WeakMap<System, { fabric: IbFabric; conns: Map<string, RcConnection> }>();

/** The system's InfiniBand fabric (one per system, made by the first device set up). */
function fabricOf(sys: System, hosts: readonly IbHostName[], c: Costs, o: IpoibDeviceOptions): { fabric: IbFabric; conns: Map<string, RcConnection> } {
  let f = fabrics.get(sys);
  if (!f) fabrics.set(sys, (f = { fabric: new IbFabric(sys, { hosts, costs: c, rcMtuBytes: c.ibUdMtuBytes, broken: o.broken?.fabric }), conns: new Map() }));
  return f;
}

/** The InfiniBand fabric an IPoIB path runs on (its stats, connections), if `sys` has one. */
export function ipoibFabric(sys: System): IbFabric | undefined {
  return fabrics.get(sys)?.fabric;
}

// ---- The IPoIB configurations and their runners -------------------------------------------------

/** What `native-ipoib` and `vnet-ipoib` are built from. */
export type IpoibKind = 'native' | 'vnetp';

export interface IpoibBuildOptions {
  /** MTU of the stack that runs TCP/IP: the host's for native (65520), the guest's for vnet (9000). */
  readonly mtu: number;
  readonly costs: Costs;
  readonly seed?: number;
  readonly system?: Omit<SystemOptions, 'seed'>;
  /** Hosts on the IB switch (default 2). */
  readonly hosts?: number;
  /** Device options beyond the costs (deliberately broken variants). */
  readonly device?: Omit<IpoibDeviceOptions, 'costs'>;
}

/**
 * The IPoIB MTU of `native-ipoib`: the interface's connected-mode MTU (calibration.md Testbed
 * "IPoIB MTU 65520").
 */
export const NATIVE_IPOIB_MTU = IPOIB_CM_MAX_MTU;
/**
 * The guest MTU of `vnet-ipoib`: the guest's virtio NIC MTU (calibration.md Testbed "virtio MTU
 * 9000"); chapter 6 is not in the spec, and no other guest MTU for VNET+IPoIB is reported. The
 * overlay's UDP datagrams (guest frame + 42 bytes) then fit one IPoIB packet.
 */
export const VNET_IPOIB_GUEST_MTU = 9000;

/**
 * A two-host (or `hosts`-host) path whose hosts talk through IPoIB: `native` (the host's own
 * TCP/IP on the IPoIB interface) or `vnetp` (the guest's TCP/IP through VNET/P, whose bridge sends
 * its UDP datagrams over the host's IPoIB interface, MTU 65520). The IPoIB driver's work runs on
 * each host's `host` core, so `cpu.busyNs` includes it.
 */
export function buildIpoibPath(kind: IpoibKind, o: IpoibBuildOptions): TwoHostPath {
  if (kind !== 'native' && kind !== 'vnetp') throw new RangeError(`buildIpoibPath: kind = ${JSON.stringify(kind)}; expected 'native' or 'vnetp'`);
  const device: HostDevice = ipoibDevice({ ...o.device, costs: o.costs });
  return buildHostsPath({
    kind,
    mtu: o.mtu,
    // The overlay's bridge sends over the IPoIB interface, whose MTU is the connected-mode one.
    hostMtu: o.costs.ipoibMtuBytes,
    linkBitRate: o.costs.ibDataBitRate,
    costs: o.costs,
    seed: o.seed,
    system: o.system,
    hosts: o.hosts,
    device,
  });
}

const buildWith =
  (kind: IpoibKind, device?: Omit<IpoibDeviceOptions, 'costs'>) =>
  (o: { mtu: number; costs: Costs; seed?: number; system?: Omit<SystemOptions, 'seed'> }): TwoHostPath =>
    buildIpoibPath(kind, { ...o, device });

/** The workloads of `native-ipoib` (`kind` native) or `vnet-ipoib` (`kind` vnetp). */
export function ipoibRunners(kind: IpoibKind, device?: Omit<IpoibDeviceOptions, 'costs'>): WorkloadRunners {
  const build = buildWith(kind, device);
  return {
    rttUs: (o) => measureRttUs(build, { mtu: o.mtu, sizeBytes: o.sizeBytes, costs: o.costs, seed: o.seed }),
    udpGoodput: (o) => ({
      bitsPerSecond: measureUdpGoodput(build, { mtu: o.mtu, linkBitRate: o.costs.ibDataBitRate, costs: o.costs, seed: o.seed, durationNs: o.quick ? TTCP_DURATION_QUICK_NS : TTCP_DURATION_NS }).bitsPerSecond,
    }),
    tcpThroughput: tcpThroughputRunner(build, (c) => c.ibDataBitRate),
    mpi: mpiRunner(build),
    hpcc: (o) => {
      const r = measureHpcc((b) => buildIpoibPath(kind, { ...b, device }), o);
      return { pingPongLatencyUs: r.pingPongLatencyUs, pingPongBandwidthMBs: r.pingPongBandwidthMBs, ringLatencyUs: r.ringLatencyUs, ringBandwidthMBs: r.ringBandwidthMBs };
    },
  };
}

/** `native-ipoib`: the kernel's TCP/IP over IPoIB connected mode, MTU 65520. */
export const nativeIpoibRunners: WorkloadRunners = ipoibRunners('native');
/**
 * `vnet-ipoib`: the guest's TCP/IP through VNET/P over the host's IPoIB. The semantic gap of §3.3.2
 * is in the mechanism, not in a cost: the guest's TCP still checksums every segment, sends its
 * ACKs and runs its windows (tcp.ts `TcpStats`: ackSegments, checksumBytes), each guest ACK
 * becomes an encapsulated UDP datagram, an IPoIB packet with its own software checksum on the host
 * (ipoibChecksumCyclesPerByte) and an RC SEND that the HCAs acknowledge again (ipoibStats,
 * ipoibFabric(sys).stats.acks): reliability twice over, guest TCP on top of the RC transport.
 */
export const vnetIpoibRunners: WorkloadRunners = ipoibRunners('vnetp');
