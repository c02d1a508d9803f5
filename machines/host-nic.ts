/**
 * Host NIC and its driver: receive interrupt coalescing, NAPI polling, the end-of-coalescing
 * notification, and transmit with optional TCP segmentation offload.
 *
 * Sources: dissertation §3.2.2-§3.2.3 (host NICs coalesce interrupts, bounding the delay to tens
 * or hundreds of µs), §4.3 and §4.3.2 (the host driver tells the overlay when it has emptied the
 * device queue after a coalesced interrupt: the EoC notification), §5.1.3 (fragmentation in the
 * host NIC via TSO); protocol-notes.md §6 (ethtool `rx-usecs`/`rx-frames` exit rule, NAPI
 * contract).
 *
 * Receive. A frame from the wire is DMA-ed into a bounded receive queue (a completion) or, when
 * the queue is full, dropped and counted. While the interrupt is unmasked the NIC coalesces: the
 * first completion after the interrupt was last unmasked arms the `rx-usecs` timer, and the
 * interrupt fires as soon as
 *
 *   (rx-usecs > 0 and now - firstPendingAt >= rx-usecs) or (rx-frames > 0 and pending >= rx-frames).
 *
 * The interrupt masks itself and schedules NAPI; the driver then polls, taking at most
 * `napiBudget` frames per poll. A poll that took fewer than its budget found the queue empty: it
 * completes (napi_complete_done), unmasks, and the driver emits the EoC notification of §4.3.2.
 * A poll that used its whole budget keeps NAPI scheduled, even if it happened to empty the queue
 * (napi.rst: finishing with exactly `budget` packets must not complete); the next poll completes.
 * Because a completing poll leaves the queue empty, the completions pending while unmasked are
 * exactly the frames in the queue.
 *
 * Time. Events carry `now` in integer nanoseconds; `rxUsecs` is in microseconds, as ethtool has
 * it, and is compared as `rxUsecs * 1000` ns. The machine has no timers of its own: whatever event
 * arrives next (a `timer` tick, a frame, a poll, a transmit) first fires an interrupt that fell
 * due at or before its `now`, stamped with the time it fell due, and is then handled. So in every
 * snapshot an unmasked NIC is within its coalescing bound. Events stamped earlier than the last
 * one are refused.
 *
 * Transmit. A frame that fits the MTU (plus the 14-byte Ethernet header) goes out whole. With TSO
 * a larger TCP/IPv4 frame is cut into segments that each repeat its 54 bytes of Ethernet, IPv4
 * and TCP headers (no options) and carry at most MTU - 40 bytes of payload; without TSO, or
 * beyond the 65535-byte IPv4 datagram, the frame is dropped and counted. Frames are opaque: a
 * segment names its original frame, its index and its length; no bytes are rewritten here.
 */
import { and, assign, enqueueActions, setup, type SnapshotFrom } from 'xstate';
import { defineEntry, type Invariant, type Witness } from './catalog-entry.js';
import { checkParams, InputError, type ParamsOf } from './params.js';

/** A frame as the NIC carries it; opaque apart from its length. */
export interface Frame {
  /** Identity for tracking through the system (not part of the wire format). */
  readonly id: number;
  /** Length of the Ethernet frame in bytes (header included, no FCS). */
  readonly bytes: number;
  readonly data?: Uint8Array;
}

/** Ethernet header length (no VLAN tag, no FCS). */
export const ETH_HLEN = 14;
/** Headers TSO repeats in every segment: Ethernet 14 + IPv4 20 + TCP 20 (no options). */
export const TSO_HEADER_BYTES = 54;
/** Largest frame TSO accepts: an IPv4 datagram of at most 65535 bytes (RFC 791 total length). */
export const TSO_MAX_FRAME = 65535 + ETH_HLEN;

export const params = {
  rxQueueSize: {
    kind: 'number',
    default: 512,
    min: 1,
    max: 65536,
    integer: true,
    unit: 'frames',
    description:
      'Receive descriptors: completed frames the queue holds before arrivals are dropped. The testbed NIC setting is not reported; 512 is a common driver default.',
    source: '§4.3.2 (the host NIC packet queue); protocol-notes.md §6',
  },
  rxUsecs: {
    kind: 'number',
    default: 50,
    min: 0,
    max: 1_000_000,
    integer: true,
    unit: 'µs',
    description:
      'ethtool rx-usecs: interrupt once this long has passed since the first completion after the last interrupt (0 = no timer). In µs as ethtool has it; compared with event times as rxUsecs * 1000 ns.',
    source: 'protocol-notes.md §6 (ethtool.h rx_coalesce_usecs); §3.2.3 (tens to hundreds of µs)',
  },
  rxFrames: {
    kind: 'number',
    default: 32,
    min: 0,
    max: 65536,
    integer: true,
    unit: 'frames',
    description:
      'ethtool rx-frames: interrupt once this many completions are pending (0 = no count). Not both 0; rxUsecs 0 with rxFrames 1 turns coalescing off. The testbed setting is not reported; 32 is illustrative.',
    source: 'protocol-notes.md §6 (ethtool.h rx_max_coalesced_frames)',
  },
  napiBudget: {
    kind: 'number',
    default: 64,
    min: 1,
    max: 65536,
    integer: true,
    unit: 'frames',
    description: 'NAPI budget: the most frames one poll takes from the receive queue (the default per-instance weight is 64).',
    source: 'protocol-notes.md §6 (napi.rst "budget"; weight 64 is medium confidence)',
  },
  tso: {
    kind: 'boolean',
    default: false,
    description:
      'TCP segmentation offload: the NIC cuts a frame larger than the MTU into MTU-sized segments. Whether the testbed used it is not reported; without it the VNET/P bridge must fragment.',
    source: '§5.1.3 (MTU: fragmentation in the bridge or in the host NIC via TSO)',
  },
  mtu: {
    kind: 'number',
    default: 1500,
    min: 68,
    max: 9000,
    integer: true,
    unit: 'bytes',
    description: 'Largest IP packet on the physical link; a wire frame is at most MTU + 14 bytes. 1500 (standard Ethernet) or up to 9000 (jumbo frames).',
    source: '§5.1.3; calibration.md (1 Gbps MTU 1500, 10 Gbps MTU up to 9000)',
  },
} as const;

export type Params = ParamsOf<typeof params>;
export type Input = Partial<Params>;

/** Returns complete parameters or throws an `InputError` naming the field. */
export function checkInput(input: unknown): Params {
  const p = checkParams('host-nic', params, input);
  // ethtool: both zero would never interrupt.
  if (p.rxUsecs === 0 && p.rxFrames === 0)
    throw new InputError('host-nic', 'rxFrames', p.rxFrames, 'at least 1 when rxUsecs is 0 (with both 0 no interrupt would ever fire)');
  // Without a timer, a count the queue can never hold would never interrupt either.
  if (p.rxUsecs === 0 && p.rxFrames > p.rxQueueSize)
    throw new InputError('host-nic', 'rxFrames', p.rxFrames, `at most rxQueueSize (${p.rxQueueSize}) when rxUsecs is 0 (the queue would fill before the count is reached)`);
  return p;
}

export interface Stats {
  /** Frames that arrived from the wire (completed or dropped). */
  arrived: number;
  /** Frames the driver handed to the host stack. */
  delivered: number;
  droppedRxQueueFull: number;
  /** Frames that completed while the interrupt was masked (NAPI owned the queue). */
  completedWhileMasked: number;
  irqs: number;
  /** Interrupts fired by the rx-usecs timer, and by the rx-frames count. */
  irqsByTimer: number;
  irqsByCount: number;
  polls: number;
  /** Polls that used their whole budget (NAPI polls again without an interrupt). */
  budgetExhausted: number;
  eocs: number;
  /** NAPI cycles that took more than one poll to empty the queue. */
  multiPollDrains: number;
  txFrames: number;
  /** Frames TSO cut into more than one segment. */
  tsoSplits: number;
  txSegments: number;
  txDroppedTooLarge: number;
}

export interface Context {
  readonly p: Params;
  /** Time of the latest event (ns); events stamped earlier are refused. */
  now: number;
  /** Completed frames in the receive queue, oldest first (DMA done, not yet taken by the driver). */
  queue: Frame[];
  /** When the first completion since the interrupt was last unmasked arrived (ns); null when none is pending. It arms the rx-usecs timer. */
  firstPendingAt: number | null;
  /** The NIC's interrupt mask: set when the interrupt fires (NAPI scheduled), cleared by napi_complete_done. */
  masked: boolean;
  /** Polls, frames and bytes of the current NAPI cycle (reported with the EoC). */
  cyclePolls: number;
  cycleFrames: number;
  cycleBytes: number;
  stats: Stats;
}

export type Event =
  /** A frame arrives from the wire; the NIC DMAs it into the receive queue (a completion). */
  | { type: 'wire.rx'; now: number; frame: Frame }
  /** Time passes; an interrupt that fell due by `now` fires. */
  | { type: 'timer'; now: number }
  /** NAPI poll (only while NAPI is scheduled): take up to `napiBudget` frames. */
  | { type: 'driver.poll'; now: number }
  /** The host stack transmits a frame. */
  | { type: 'tx'; now: number; frame: Frame };

export type Emitted =
  /** The receive interrupt fires (and masks itself, scheduling NAPI); `now` is when it fell due. */
  | { type: 'irq'; now: number; reason: 'rx-usecs' | 'rx-frames'; pending: number }
  /** The driver hands a received frame to the host stack (the overlay). */
  | { type: 'host.rx'; now: number; frame: Frame }
  /** End of coalescing: the driver emptied the queue and completed NAPI (§4.3.2). */
  | { type: 'eoc'; now: number; frames: number; bytes: number; polls: number }
  /** A frame was dropped and counted. */
  | { type: 'drop'; now: number; frame: Frame; reason: 'rx-queue-full' | 'tx-too-large' }
  /** A frame, or one TSO segment of it, goes out on the wire. */
  | { type: 'wire.tx'; now: number; frame: Frame; segment: number; segments: number; bytes: number };

const zeroStats = (): Stats => ({
  arrived: 0,
  delivered: 0,
  droppedRxQueueFull: 0,
  completedWhileMasked: 0,
  irqs: 0,
  irqsByTimer: 0,
  irqsByCount: 0,
  polls: 0,
  budgetExhausted: 0,
  eocs: 0,
  multiPollDrains: 0,
  txFrames: 0,
  tsoSplits: 0,
  txSegments: 0,
  txDroppedTooLarge: 0,
});

/** The initial context for complete parameters. */
export function initialContext(p: Params): Context {
  return {
    p,
    now: 0,
    queue: [],
    firstPendingAt: null,
    masked: false,
    cyclePolls: 0,
    cycleFrames: 0,
    cycleBytes: 0,
    stats: zeroStats(),
  };
}

// ---- pure protocol steps (shared by guards, actions and the property monitors) ---------------

/** rx-usecs in event time units (ns). */
export const usecsNs = (p: Pick<Params, 'rxUsecs'>): number => p.rxUsecs * 1000;

/** When the rx-usecs timer falls due, or null when it is not armed. */
export function timerDueAt(c: Context): number | null {
  return c.p.rxUsecs > 0 && c.firstPendingAt !== null && !c.masked ? c.firstPendingAt + usecsNs(c.p) : null;
}

/** Largest frame that goes out without segmentation. */
export const maxWireFrame = (p: Pick<Params, 'mtu'>): number => p.mtu + ETH_HLEN;

/** TSO: segment lengths for a frame larger than the MTU. */
export function tsoSegmentBytes(bytes: number, mtu: number): number[] {
  const mss = mtu - 40;
  const payload = bytes - TSO_HEADER_BYTES;
  const out: number[] = [];
  for (let off = 0; off < payload; off += mss) out.push(TSO_HEADER_BYTES + Math.min(mss, payload - off));
  return out;
}

const validFrame = (f: unknown): boolean =>
  typeof f === 'object' && f !== null && Number.isSafeInteger((f as Frame).bytes) && (f as Frame).bytes > 0;

const src = (source: string) => ({ source });

export const hostNicMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as Input | undefined,
    emitted: {} as Emitted,
    meta: {} as { source: string },
  },
  guards: {
    /** `now` is an integer not before the last event's; a frame has a positive integer length. */
    wellFormed: ({ context, event }) =>
      Number.isSafeInteger(event.now) &&
      event.now >= context.now &&
      (event.type === 'wire.rx' || event.type === 'tx' ? validFrame(event.frame) : true),
    /** The rx-usecs timer has fallen due at or before this event's `now`. */
    timerDue: ({ context, event }) => {
      const due = timerDueAt(context);
      return due !== null && event.now >= due;
    },
    /** The receive queue holds `rxQueueSize` frames: no descriptor for another. */
    queueFull: ({ context }) => context.queue.length >= context.p.rxQueueSize,
    /** With the arriving frame, the pending completions reach rx-frames. */
    countReachedWithArrival: ({ context }) => context.p.rxFrames > 0 && context.queue.length + 1 >= context.p.rxFrames,
    /** This poll will find fewer frames than its budget, so it drains the queue and may complete. */
    pollEmpties: ({ context }) => context.queue.length < context.p.napiBudget,
    /** The frame fits the MTU as it is. */
    fitsMtu: ({ context, event }) => event.type === 'tx' && event.frame.bytes <= maxWireFrame(context.p),
    /** TSO is on and the frame is a datagram it can segment. */
    tsoCanSplit: ({ context, event }) => event.type === 'tx' && context.p.tso && event.frame.bytes <= TSO_MAX_FRAME,
  },
  actions: {
    advanceClock: assign(({ event }) => ({ now: event.now })),
    /** DMA the arriving frame into the queue. */
    completeArrival: assign(({ context, event }) => {
      if (event.type !== 'wire.rx') return {};
      return {
        now: event.now,
        queue: [...context.queue, event.frame],
        stats: {
          ...context.stats,
          arrived: context.stats.arrived + 1,
          completedWhileMasked: context.stats.completedWhileMasked + (context.masked ? 1 : 0),
        },
      };
    }),
    /** The first completion after unmasking arms the rx-usecs timer. */
    startCoalescing: assign(({ event }) => ({ firstPendingAt: event.now })),
    dropRxQueueFull: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'wire.rx') return;
      enqueue.assign({
        now: event.now,
        stats: {
          ...context.stats,
          arrived: context.stats.arrived + 1,
          droppedRxQueueFull: context.stats.droppedRxQueueFull + 1,
        },
      });
      enqueue.emit({ type: 'drop', now: event.now, frame: event.frame, reason: 'rx-queue-full' });
    }),
    /** rx-frames reached at this arrival: fire now, mask, schedule NAPI. */
    raiseIrq: enqueueActions(({ context, event, enqueue }) => {
      enqueue.assign({
        masked: true,
        firstPendingAt: null,
        cyclePolls: 0,
        cycleFrames: 0,
        cycleBytes: 0,
        stats: { ...context.stats, irqs: context.stats.irqs + 1, irqsByCount: context.stats.irqsByCount + 1 },
      });
      enqueue.emit({ type: 'irq', now: event.now, reason: 'rx-frames', pending: context.queue.length });
    }),
    /** rx-usecs elapsed: fire, stamped with the time it fell due; mask, schedule NAPI. */
    raiseOverdueIrq: enqueueActions(({ context, enqueue }) => {
      const at = timerDueAt(context) ?? context.now;
      enqueue.assign({
        masked: true,
        firstPendingAt: null,
        cyclePolls: 0,
        cycleFrames: 0,
        cycleBytes: 0,
        stats: { ...context.stats, irqs: context.stats.irqs + 1, irqsByTimer: context.stats.irqsByTimer + 1 },
      });
      enqueue.emit({ type: 'irq', now: at, reason: 'rx-usecs', pending: context.queue.length });
    }),
    /** NAPI poll: take up to the budget, oldest first, and hand each frame to the stack. */
    napiPoll: enqueueActions(({ context, event, enqueue }) => {
      const taken = context.queue.slice(0, context.p.napiBudget);
      const bytes = taken.reduce((n, f) => n + f.bytes, 0);
      enqueue.assign({
        now: event.now,
        queue: context.queue.slice(taken.length),
        cyclePolls: context.cyclePolls + 1,
        cycleFrames: context.cycleFrames + taken.length,
        cycleBytes: context.cycleBytes + bytes,
        stats: {
          ...context.stats,
          delivered: context.stats.delivered + taken.length,
          polls: context.stats.polls + 1,
          budgetExhausted: context.stats.budgetExhausted + (taken.length === context.p.napiBudget ? 1 : 0),
        },
      });
      for (const frame of taken) enqueue.emit({ type: 'host.rx', now: event.now, frame });
    }),
    /** napi_complete_done, unmask, and tell the overlay the queue is empty (EoC). */
    napiComplete: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({
        masked: false,
        stats: {
          ...context.stats,
          eocs: context.stats.eocs + 1,
          multiPollDrains: context.stats.multiPollDrains + (context.cyclePolls > 1 ? 1 : 0),
        },
      });
      enqueue.emit({ type: 'eoc', now: context.now, frames: context.cycleFrames, bytes: context.cycleBytes, polls: context.cyclePolls });
    }),
    sendFrame: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'tx') return;
      enqueue.assign({
        now: event.now,
        stats: { ...context.stats, txFrames: context.stats.txFrames + 1, txSegments: context.stats.txSegments + 1 },
      });
      enqueue.emit({ type: 'wire.tx', now: event.now, frame: event.frame, segment: 0, segments: 1, bytes: event.frame.bytes });
    }),
    segmentAndSend: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'tx') return;
      const segs = tsoSegmentBytes(event.frame.bytes, context.p.mtu);
      enqueue.assign({
        now: event.now,
        stats: {
          ...context.stats,
          txFrames: context.stats.txFrames + 1,
          tsoSplits: context.stats.tsoSplits + 1,
          txSegments: context.stats.txSegments + segs.length,
        },
      });
      segs.forEach((bytes, segment) =>
        enqueue.emit({ type: 'wire.tx', now: event.now, frame: event.frame, segment, segments: segs.length, bytes }),
      );
    }),
    dropTxTooLarge: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'tx') return;
      enqueue.assign({
        now: event.now,
        stats: { ...context.stats, txFrames: context.stats.txFrames + 1, txDroppedTooLarge: context.stats.txDroppedTooLarge + 1 },
      });
      enqueue.emit({ type: 'drop', now: event.now, frame: event.frame, reason: 'tx-too-large' });
    }),
  },
}).createMachine({
  id: 'host-nic',
  description: 'A physical NIC and its driver: coalesced receive interrupts, NAPI polling with EoC, transmit with optional TSO.',
  meta: src('§3.2.2-§3.2.3; §4.3.2; §5.1.3; protocol-notes.md §6'),
  context: ({ input }) => initialContext(checkInput(input)),
  type: 'parallel',
  states: {
    rx: {
      description: 'Receive side: the bounded queue, interrupt coalescing, and the driver polling under NAPI.',
      meta: src('§3.2.2; §4.3.2; protocol-notes.md §6'),
      initial: 'idle',
      states: {
        idle: {
          description: 'Interrupt unmasked, receive queue empty, no completion pending, timer not armed.',
          meta: src('protocol-notes.md §6 (NAPI contract)'),
          on: {
            'wire.rx': [
              {
                guard: and(['wellFormed', 'countReachedWithArrival']),
                target: 'polling',
                actions: ['completeArrival', 'raiseIrq'],
                description: 'The frame completes and rx-frames is 1: interrupt at once, mask, schedule NAPI.',
                meta: src('protocol-notes.md §6 (ethtool exit rule; rx-frames 1 means no coalescing)'),
              },
              {
                guard: 'wellFormed',
                target: 'coalescing',
                actions: ['completeArrival', 'startCoalescing'],
                description: 'The first completion after unmasking: hold the interrupt and arm the rx-usecs timer at this time.',
                meta: src('protocol-notes.md §6 (timer armed by the first completion after the last interrupt); §3.2.2'),
              },
            ],
            timer: {
              guard: 'wellFormed',
              actions: 'advanceClock',
              description: 'Time passes with nothing pending: nothing to fire.',
              meta: src('protocol-notes.md §6'),
            },
          },
        },
        coalescing: {
          description: 'Interrupt unmasked, completions pending: wait until rx-usecs have passed since the first or rx-frames are pending.',
          meta: src('§3.2.2-§3.2.3; protocol-notes.md §6 (ethtool.h)'),
          on: {
            'wire.rx': [
              {
                guard: and(['wellFormed', 'timerDue', 'queueFull']),
                target: 'polling',
                actions: ['raiseOverdueIrq', 'dropRxQueueFull'],
                description: 'The rx-usecs timer fell due before this arrival: fire it; the queue is full, so drop and count the frame.',
                meta: src('protocol-notes.md §6 (ethtool exit rule); §4.3.2'),
              },
              {
                guard: and(['wellFormed', 'timerDue']),
                target: 'polling',
                actions: ['raiseOverdueIrq', 'completeArrival'],
                description: 'The rx-usecs timer fell due before this arrival: fire it, then the frame completes with the interrupt masked.',
                meta: src('protocol-notes.md §6 (ethtool exit rule)'),
              },
              {
                guard: and(['wellFormed', 'queueFull']),
                actions: 'dropRxQueueFull',
                description: 'No free receive descriptor: drop and count the frame; keep coalescing.',
                meta: src('§4.3.2 (the host NIC packet queue); protocol-notes.md §6'),
              },
              {
                guard: and(['wellFormed', 'countReachedWithArrival']),
                target: 'polling',
                actions: ['completeArrival', 'raiseIrq'],
                description: 'The frame completes and rx-frames completions are pending: interrupt now, mask, schedule NAPI.',
                meta: src('protocol-notes.md §6 (ethtool exit rule)'),
              },
              {
                guard: 'wellFormed',
                actions: 'completeArrival',
                description: 'The frame completes; neither rx-usecs nor rx-frames is reached: keep holding the interrupt.',
                meta: src('§3.2.2 (interrupts delayed a bounded time); protocol-notes.md §6'),
              },
            ],
            timer: [
              {
                guard: and(['wellFormed', 'timerDue']),
                target: 'polling',
                actions: ['raiseOverdueIrq', 'advanceClock'],
                description: 'The rx-usecs timer fires: interrupt, mask, schedule NAPI.',
                meta: src('protocol-notes.md §6 (ethtool exit rule); §3.2.3 (fine-grained NIC timers)'),
              },
              {
                guard: 'wellFormed',
                actions: 'advanceClock',
                description: 'Time passes, still short of rx-usecs since the first pending completion.',
                meta: src('protocol-notes.md §6'),
              },
            ],
            'driver.poll': [
              {
                guard: and(['wellFormed', 'timerDue', 'pollEmpties']),
                target: 'idle',
                actions: ['raiseOverdueIrq', 'napiPoll', 'napiComplete'],
                description: 'The timer fell due before this poll: the interrupt fires and NAPI polls; the poll drains the queue, completes, unmasks and emits EoC.',
                meta: src('protocol-notes.md §6 (ethtool exit rule, napi.rst); §4.3.2'),
              },
              {
                guard: and(['wellFormed', 'timerDue']),
                target: 'polling',
                actions: ['raiseOverdueIrq', 'napiPoll'],
                description: 'The timer fell due before this poll: the interrupt fires and NAPI polls; the poll uses its whole budget and stays scheduled.',
                meta: src('protocol-notes.md §6 (ethtool exit rule, napi.rst)'),
              },
            ],
            tx: {
              guard: and(['wellFormed', 'timerDue']),
              target: 'polling',
              actions: ['raiseOverdueIrq', 'advanceClock'],
              description: 'The timer fell due before this transmit: the receive interrupt fires first.',
              meta: src('protocol-notes.md §6 (ethtool exit rule)'),
            },
          },
        },
        polling: {
          description: 'Interrupt fired and masked; NAPI owns the queue and the driver polls it. Arrivals complete without interrupts.',
          meta: src('protocol-notes.md §6 (napi.rst: masked from napi_schedule to napi_complete_done)'),
          on: {
            'wire.rx': [
              {
                guard: and(['wellFormed', 'queueFull']),
                actions: 'dropRxQueueFull',
                description: 'No free receive descriptor: drop and count the frame.',
                meta: src('§4.3.2; protocol-notes.md §6'),
              },
              {
                guard: 'wellFormed',
                actions: 'completeArrival',
                description: 'The frame completes; the interrupt is masked, so the poll in progress will take it.',
                meta: src('protocol-notes.md §6 (napi.rst)'),
              },
            ],
            timer: {
              guard: 'wellFormed',
              actions: 'advanceClock',
              description: 'Time passes; no interrupt while masked.',
              meta: src('protocol-notes.md §6 invariant 4'),
            },
            'driver.poll': [
              {
                guard: and(['wellFormed', 'pollEmpties']),
                target: 'idle',
                actions: ['napiPoll', 'napiComplete'],
                description: 'The poll takes fewer frames than its budget and empties the queue: napi_complete_done, unmask, emit EoC.',
                meta: src('napi.rst via protocol-notes.md §6; §4.3.2 (EoC when the host NIC has emptied its queue)'),
              },
              {
                guard: 'wellFormed',
                actions: 'napiPoll',
                description: 'The poll uses its whole budget: stay scheduled and be polled again without an interrupt (even if the queue happens to be empty now).',
                meta: src('napi.rst via protocol-notes.md §6 (exactly budget must not complete)'),
              },
            ],
          },
        },
      },
    },
    tx: {
      description: 'Transmit side: frames go out whole, cut into segments by TSO, or are dropped as too large.',
      meta: src('§5.1.3'),
      initial: 'ready',
      states: {
        ready: {
          description: 'Ready to transmit (the transmit ring and its completions are not modelled).',
          meta: src('§5.1.3'),
          on: {
            tx: [
              {
                guard: and(['wellFormed', 'fitsMtu']),
                actions: 'sendFrame',
                description: 'The frame fits MTU + Ethernet header: send it whole.',
                meta: src('§5.1.3 (MTU)'),
              },
              {
                guard: and(['wellFormed', 'tsoCanSplit']),
                actions: 'segmentAndSend',
                description: 'Larger than the MTU, TSO on: cut the payload into MSS-sized pieces, each sent behind a copy of the headers.',
                meta: src('§5.1.3 (fragmentation in the host NIC via TSO)'),
              },
              {
                guard: 'wellFormed',
                actions: 'dropTxTooLarge',
                description: 'Larger than the MTU and TSO off (or beyond an IPv4 datagram): drop and count it.',
                meta: src('§5.1.3 (otherwise the VNET/P bridge must fragment)'),
              },
            ],
          },
        },
      },
    },
  },
});

export type HostNicMachine = typeof hostNicMachine;

// ---- catalog entry -----------------------------------------------------------------------------

type Snap = SnapshotFrom<HostNicMachine>;
type RxState = 'idle' | 'coalescing' | 'polling';

export const rxState = (s: { value: unknown }): RxState => (s.value as { rx: RxState }).rx;

/** Safety properties of the NIC and its driver alone. */
export const invariants: readonly Invariant<Snap>[] = [
  {
    name: 'interrupt-within-coalescing-bound',
    description:
      'While the interrupt is unmasked and completions are pending, fewer than rx-usecs have passed since the first of them and fewer than rx-frames are pending; otherwise the interrupt has fired.',
    source: 'protocol-notes.md §6 (ethtool exit rule; invariant 4); §3.2.2',
    check: (s) => {
      const c = s.context;
      if (c.masked || c.queue.length === 0) return undefined;
      if (c.p.rxFrames > 0 && c.queue.length >= c.p.rxFrames)
        return `${c.queue.length} completions pending with rx-frames ${c.p.rxFrames} and no interrupt`;
      // An unarmed timer is the next invariant's concern.
      if (c.p.rxUsecs > 0 && c.firstPendingAt !== null) {
        const waited = c.now - c.firstPendingAt;
        if (waited >= usecsNs(c.p)) return `the first pending completion has waited ${waited} ns >= rx-usecs ${c.p.rxUsecs} µs and no interrupt`;
      }
      return undefined;
    },
    witness: {
      name: 'completion-waits-for-coalescing',
      description: 'A completion sometimes waits, unmasked, while time passes (coalescing holds the interrupt).',
      reached: (s) => !s.context.masked && s.context.firstPendingAt !== null && s.context.now > s.context.firstPendingAt,
    },
  },
  {
    name: 'rx-queue-bounded-and-accounted',
    description:
      'The receive queue never holds more than rxQueueSize frames, and every frame that arrived was delivered to the host, dropped with a counted reason, or is still queued.',
    source: '§4.3.2 (the host NIC packet queue); ARCHITECTURE.md (conservation)',
    check: (s) => {
      const c = s.context;
      const st = c.stats;
      if (c.queue.length > c.p.rxQueueSize) return `${c.queue.length} frames queued in a queue of ${c.p.rxQueueSize}`;
      const out = st.delivered + st.droppedRxQueueFull + c.queue.length;
      if (st.arrived !== out) return `${st.arrived} frames arrived but ${out} are delivered, dropped or queued`;
      return undefined;
    },
    witness: {
      name: 'rx-queue-full-drop',
      description: 'A frame sometimes arrives at a full receive queue and is dropped.',
      reached: (s) => s.context.stats.droppedRxQueueFull > 0,
    },
  },
  {
    name: 'one-eoc-per-napi-cycle',
    description:
      'The interrupt is masked exactly while NAPI polls, and every interrupt opens one NAPI cycle that ends with exactly one EoC: interrupts - EoCs is 1 while polling and 0 otherwise.',
    source: 'protocol-notes.md §6 (NAPI invariant 1); §4.3.2',
    check: (s) => {
      const c = s.context;
      const polling = rxState(s) === 'polling';
      if (c.masked !== polling) return `interrupt ${c.masked ? 'masked' : 'unmasked'} in state ${rxState(s)}`;
      const open = c.stats.irqs - c.stats.eocs;
      if (open !== (polling ? 1 : 0)) return `${c.stats.irqs} interrupts and ${c.stats.eocs} EoCs in state ${rxState(s)}`;
      return undefined;
    },
    witness: {
      name: 'drain-spans-polls',
      description: 'A NAPI cycle sometimes takes several polls (budget used up) before its EoC.',
      reached: (s) => s.context.stats.multiPollDrains > 0,
    },
  },
  {
    name: 'unmasked-queue-is-coalescing',
    description:
      'No completion is stranded: with the interrupt unmasked, an empty queue means nothing is pending (idle) and a non-empty one is being coalesced with its timer armed at the first completion.',
    source: 'protocol-notes.md §6 (NAPI invariant 2, no lost wakeup)',
    check: (s) => {
      const c = s.context;
      const st = rxState(s);
      if (st === 'idle' && (c.queue.length > 0 || c.firstPendingAt !== null))
        return `idle with ${c.queue.length} frames queued (first pending at ${c.firstPendingAt})`;
      if (st === 'coalescing' && (c.queue.length === 0 || c.firstPendingAt === null))
        return `coalescing with ${c.queue.length} frames queued and first pending at ${c.firstPendingAt}`;
      return undefined;
    },
    witness: {
      name: 'arrival-during-poll-drained',
      description: 'Frames sometimes complete while NAPI polls, and the cycle still ends with an empty queue.',
      reached: (s) => rxState(s) === 'idle' && s.context.stats.completedWhileMasked > 0,
    },
  },
];

/** "Sometimes" conditions beyond the invariants' own. */
export const witnesses: readonly Witness<Snap>[] = [
  {
    name: 'interrupt-by-timer',
    description: 'The rx-usecs timer sometimes fires the interrupt.',
    reached: (s) => s.context.stats.irqsByTimer > 0,
  },
  {
    name: 'interrupt-by-count',
    description: 'Reaching rx-frames sometimes fires the interrupt.',
    reached: (s) => s.context.stats.irqsByCount > 0,
  },
  {
    name: 'full-budget-poll-keeps-napi',
    description: 'A poll sometimes uses its whole budget and empties the queue, and NAPI stays scheduled (no EoC yet).',
    reached: (s) => rxState(s) === 'polling' && s.context.queue.length === 0 && s.context.cyclePolls > 0,
  },
  {
    name: 'tso-split',
    description: 'TSO sometimes cuts a frame into segments.',
    reached: (s) => s.context.stats.tsoSplits > 0,
  },
  {
    name: 'tx-too-large',
    description: 'A frame larger than the MTU is sometimes dropped (TSO off).',
    reached: (s) => s.context.stats.txDroppedTooLarge > 0,
  },
];

/**
 * The exploration alphabet: arrivals, ticks and polls at a few offsets from the last event time
 * (half and whole multiples of 1 µs, the samples' rx-usecs), and three transmit sizes.
 */
export function explorationEvents(s: Snap): Event[] {
  const c = s.context;
  const at = (d: number) => c.now + d;
  const rxFrame: Frame = { id: c.stats.arrived, bytes: 60 };
  const txFrame = (bytes: number): Frame => ({ id: c.stats.txFrames, bytes });
  return [
    { type: 'wire.rx', now: at(0), frame: rxFrame },
    { type: 'wire.rx', now: at(500), frame: rxFrame },
    { type: 'timer', now: at(500) },
    { type: 'timer', now: at(1000) },
    { type: 'driver.poll', now: at(0) },
    { type: 'driver.poll', now: at(500) },
    { type: 'tx', now: at(0), frame: txFrame(60) },
    { type: 'tx', now: at(0), frame: txFrame(maxWireFrame(c.p)) },
    { type: 'tx', now: at(500), frame: txFrame(4000) },
  ];
}

/**
 * A finite key: the state, the queue length, and, while coalescing, how long the first pending
 * completion has waited (below rx-usecs by the first invariant). Frame ids, absolute times and
 * counters are dropped; the invariants over counters compare them only with each other.
 */
export function serializeState(s: Snap): string {
  const c = s.context;
  return JSON.stringify([
    s.value,
    c.queue.length,
    c.masked,
    c.firstPendingAt === null ? null : c.now - c.firstPendingAt,
  ]);
}

export const entry = defineEntry({
  id: 'host-nic',
  title: 'Host NIC: interrupt coalescing, NAPI and end-of-coalescing',
  summary:
    'The physical NIC DMAs each arriving frame into a bounded receive queue, or drops and counts it when ' +
    'the queue is full. While its interrupt is unmasked it coalesces by ethtool rules: the first completion ' +
    'after unmasking arms an rx-usecs timer, and the interrupt fires when the timer expires or rx-frames ' +
    'completions are pending. The interrupt masks itself and schedules NAPI; the driver polls, taking at most ' +
    'a budget of frames per poll and handing them to the host. A poll that takes less than its budget has ' +
    'emptied the queue: it completes NAPI, unmasks the interrupt and emits the end-of-coalescing (EoC) ' +
    'notification the optimistic-interrupt logic of §4.3.2 listens for. On transmit, frames larger than the ' +
    'MTU are cut into segments by TSO or, without it, dropped. Time is an event field (ns); any event fires an ' +
    'interrupt that fell due before it, so every snapshot respects the coalescing bound.',
  source: ['§3.2.2', '§3.2.3', '§4.3.2', '§5.1.3', 'protocol-notes.md §6'],
  machine: hostNicMachine,
  params,
  checkInput,
  samples: [
    { name: 'frames-2-usecs-1-budget-1-tso', input: { rxQueueSize: 2, rxFrames: 2, rxUsecs: 1, napiBudget: 1, tso: true } },
    { name: 'timer-only-budget-2', input: { rxQueueSize: 2, rxFrames: 0, rxUsecs: 1, napiBudget: 2 } },
    { name: 'coalescing-off', input: { rxQueueSize: 2, rxFrames: 1, rxUsecs: 0, napiBudget: 2 } },
  ],
  invariants,
  witnesses,
  events: explorationEvents,
  serializeState,
  accepts: [
    { type: 'wire.rx', description: 'A frame arrives from the wire at `now` (ns) and is DMA-ed into the receive queue, or dropped.' },
    { type: 'timer', description: 'Time passes to `now`; an interrupt that fell due by then fires.' },
    { type: 'driver.poll', description: 'NAPI poll at `now`, accepted only while NAPI is scheduled: take up to napiBudget frames.' },
    { type: 'tx', description: 'The host transmits a frame at `now`: sent whole, segmented by TSO, or dropped.' },
  ],
  emits: [
    { type: 'irq', description: 'The receive interrupt fires at `now` (when it fell due), masking itself and scheduling NAPI.' },
    { type: 'host.rx', description: 'The driver hands a received frame to the host stack (the VNET/P overlay).' },
    { type: 'eoc', description: 'End of coalescing (§4.3.2): the driver emptied the queue and completed NAPI; with the cycle\'s frames and bytes.' },
    { type: 'drop', description: 'A frame was dropped and counted: `rx-queue-full` or `tx-too-large`.' },
    { type: 'wire.tx', description: 'A frame, or TSO segment `segment` of `segments`, goes out on the wire.' },
  ],
});
