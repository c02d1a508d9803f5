/**
 * virtio split virtqueue: the ring handshake between the guest's virtio NIC driver and the VMM.
 *
 * Sources: dissertation §5.1.3 (virtio vNIC), §5.1.6 (data paths: one exit per batch on transmit,
 * one interrupt per batch on receive); virtio 1.x split-ring.tex (indices, flags, event index);
 * the original Palacios device (palacios-notes.md §3, §2.4: drop on a full receive ring and raise
 * the interrupt anyway, mergeable receive buffers).
 *
 * One machine is one virtqueue; a NIC uses two (role `tx` and role `rx`). Two parallel regions,
 * one per side of the shared memory:
 *
 * - the **driver** (guest) adds buffers and publishes `avail.idx`, then kicks the device (an I/O
 *   port write, i.e. a VM exit) unless the device set `VRING_USED_F_NO_NOTIFY` or, with
 *   `VIRTIO_F_EVENT_IDX`, `vring_need_event` says no. On an interrupt it masks further interrupts
 *   (`VRING_AVAIL_F_NO_INTERRUPT`), reaps used buffers, and on completion unmasks and re-checks the
 *   used ring so it never sleeps on work that arrived meanwhile;
 * - the **device** (VMM) either waits for kicks (`notified`, guest-driven) or is polled with kicks
 *   suppressed (`polling`, VMM-driven). On transmit it takes available buffers and hands their
 *   frames on; on receive it writes an arriving frame into posted buffers. Either way it returns
 *   them in the used ring and asks for an interrupt unless the driver suppressed it.
 *
 * Kicks and interrupts are emitted effects; the environment delivers them back as `device.kick`
 * and `driver.interrupt`, possibly later. The context counts those in flight, which is what the
 * no-lost-notification invariants are stated over.
 */
import { and, assign, enqueueActions, setup, type SnapshotFrom } from 'xstate';
import { defineEntry, type Invariant, type Witness } from './catalog-entry.js';
import { checkParams, type ParamsOf } from './params.js';

/** A frame as the ring carries it. `data` is optional: the model may carry real bytes. */
export interface Frame {
  /** Identity for tracking through the system (not part of the wire format). */
  readonly id: number;
  /** Length of the Ethernet frame in bytes. */
  readonly bytes: number;
  readonly data?: Uint8Array;
}

/** A buffer the driver offers: an out-buffer holding a frame (tx) or an empty in-buffer (rx). */
export interface OfferedBuffer {
  /** Descriptor head index. */
  readonly id: number;
  /** Buffer length in bytes. */
  readonly len: number;
  /** The frame, for transmit buffers. */
  readonly frame: Frame | null;
}

/** An element of the used ring. */
export interface UsedElem {
  readonly id: number;
  /** Bytes the device wrote into the buffer (0 for transmit buffers). */
  readonly len: number;
  /** Receive: the frame this buffer starts (first buffer of a frame only). */
  readonly frame: Frame | null;
  /** Receive: how many buffers the frame spans (`num_buffers`); 0 on continuation buffers. */
  readonly numBuffers: number;
}

export const params = {
  queueSize: {
    kind: 'number',
    default: 4096,
    min: 1,
    max: 32768,
    integer: true,
    unit: 'descriptors',
    rule: { test: (v: number) => (v & (v - 1)) === 0, says: 'a power of 2' },
    description: 'Number of descriptors (and avail/used ring slots). The original NIC uses 4096 for TX and RX.',
    source: 'virtio split-ring.tex; palacios-notes.md §6 (TX_QUEUE_SIZE, RX_QUEUE_SIZE)',
  },
  role: {
    kind: 'enum',
    default: 'rx',
    values: ['tx', 'rx'] as const,
    description: 'Transmit queue (device reads frames from out-buffers) or receive queue (device writes frames into in-buffers).',
    source: '§5.1.6',
  },
  eventIdx: {
    kind: 'boolean',
    default: false,
    description: 'VIRTIO_F_EVENT_IDX negotiated: avail_event/used_event replace the two flags. The original device does not offer it.',
    source: 'virtio split-ring.tex "Notification suppression"; palacios-notes.md §3.1',
  },
  mergeable: {
    kind: 'boolean',
    default: true,
    description: 'VIRTIO_NET_F_MRG_RXBUF: a received frame may span several buffers (num_buffers in the 12-byte header). The original always uses it.',
    source: 'palacios-notes.md §3.3',
  },
  raiseIrqOnDrop: {
    kind: 'boolean',
    default: true,
    description: 'On a receive with no posted buffer, raise the interrupt even if the driver suppressed it, to push the guest to refill (as the original does).',
    source: 'palacios-notes.md §2.4',
  },
  startIndex: {
    kind: 'number',
    default: 0,
    min: 0,
    max: 65535,
    integer: true,
    description: 'Initial value of avail.idx and used.idx. The spec starts at 0; a value near 65535 exercises the 16-bit wrap early.',
    source: 'virtio split-ring.tex "The Virtqueue Available Ring"',
  },
} as const;

export type Params = ParamsOf<typeof params>;
export type Input = Partial<Params>;

/** Returns complete parameters or throws an `InputError` naming the field. */
export function checkInput(input: unknown): Params {
  return checkParams('virtio-ring', params, input);
}

/** Header the device prepends to a received frame (virtio_net_hdr, with num_buffers if mergeable). */
export function netHeaderBytes(p: Pick<Params, 'mergeable'>): number {
  return p.mergeable ? 12 : 10;
}

export const u16 = (n: number): number => n & 0xffff;

/** `vring_need_event`: notify iff `event` lies in the cyclic window [old, new). */
export function vringNeedEvent(event: number, newIdx: number, oldIdx: number): boolean {
  return u16(newIdx - event - 1) < u16(newIdx - oldIdx);
}

export interface Stats {
  kicks: number;
  kicksSuppressed: number;
  irqs: number;
  irqsSuppressed: number;
  /** Interrupts that found the driver already processing (NAPI), hence ignored. */
  spuriousIrqs: number;
  /** Transmit: frames taken by the device. */
  transmitted: number;
  /** Receive: frames offered to the device. */
  arrived: number;
  /** Receive: frames written into posted buffers. */
  placed: number;
  /** Receive: frames dropped, by reason. */
  droppedNoBuffer: number;
  droppedTooLarge: number;
  /** Receive: frames the driver reaped. */
  received: number;
  /** Times the driver's re-check after unmasking found more work. */
  rechecksFoundWork: number;
  /** Times any descriptor was offered a second time or more (reuse after return). */
  reoffers: number;
}

export interface Context {
  readonly p: Params;
  /** Descriptor heads the driver owns and may fill (its free list). */
  free: number[];
  /** Buffers published in the available ring and not yet taken by the device, oldest first. */
  availQueue: OfferedBuffer[];
  /** Used elements returned by the device and not yet reaped by the driver, oldest first. */
  usedQueue: UsedElem[];
  /** avail.idx as published (16-bit). */
  availIdx: number;
  /** used.idx as published (16-bit). */
  usedIdx: number;
  /** Device's private next-avail index (last_avail_idx). */
  lastAvail: number;
  /** Driver's private next-used index (last_used_idx). */
  lastUsed: number;
  /** VRING_AVAIL_F_NO_INTERRUPT, written by the driver. */
  noInterrupt: boolean;
  /** VRING_USED_F_NO_NOTIFY, written by the device (always false with the event index). */
  noNotify: boolean;
  /** The device wants no kicks (VMM-driven); with the event index it stops re-arming avail_event. */
  suppressing: boolean;
  /** used_event (event index), written by the driver. */
  usedEvent: number;
  /** avail_event (event index), written by the device. */
  availEvent: number;
  /** avail.idx at the driver's previous kick decision. */
  kickOld: number;
  /** used.idx at the device's previous interrupt decision; null before the first. */
  signalOld: number | null;
  /** Kicks emitted and not yet delivered as `device.kick`. */
  kicksInFlight: number;
  /** Interrupts emitted and not yet delivered as `driver.interrupt`. */
  irqsInFlight: number;
  /** Descriptor heads that have been offered at least once (for the reuse witness). */
  everOffered: number[];
  stats: Stats;
}

export type Event =
  /** Driver: place out-buffers holding frames (tx) in the ring, publish, decide on a kick. */
  | { type: 'driver.add'; frames: readonly Frame[] }
  /** Driver: post empty receive buffers of the given lengths, publish, decide on a kick. */
  | { type: 'driver.post'; lengths: readonly number[] }
  /** An interrupt the device requested reaches the driver. */
  | { type: 'driver.interrupt' }
  /** Driver (NAPI poll, interrupts masked): reap up to `budget` frames from the used ring. */
  | { type: 'driver.reap'; budget: number }
  /** Driver: done polling; unmask interrupts and re-check the used ring. */
  | { type: 'driver.complete' }
  /** A kick the driver emitted reaches the device (the VM exit is handled). */
  | { type: 'device.kick' }
  /** Device polled by a dispatcher (VMM-driven): take up to `quota` transmit buffers. */
  | { type: 'device.poll'; quota: number }
  /** Receive: a frame arrives for this vNIC. */
  | { type: 'device.deliver'; frame: Frame }
  /** Device sets or clears VRING_USED_F_NO_NOTIFY (VMM-driven vs guest-driven transmit). */
  | { type: 'device.suppress'; on: boolean };

export type Emitted =
  /** Available-buffer notification: an I/O port write by the guest, i.e. a VM exit. */
  | { type: 'kick'; availIdx: number }
  /** Used-buffer notification: the device asks for a virtual interrupt. */
  | { type: 'irq'; usedIdx: number; reason: 'used' | 'drop' }
  /** Transmit: the device took a frame from the guest. */
  | { type: 'tx.frame'; frame: Frame }
  /** Transmit: the driver reclaimed completed buffers. */
  | { type: 'tx.complete'; ids: readonly number[] }
  /** Receive: the driver handed a frame to the guest's stack. */
  | { type: 'rx.frame'; frame: Frame; buffers: number }
  /** Receive: the device dropped an arriving frame. */
  | { type: 'rx.drop'; frame: Frame; reason: 'no-buffer' | 'too-large' };

const zeroStats = (): Stats => ({
  kicks: 0,
  kicksSuppressed: 0,
  irqs: 0,
  irqsSuppressed: 0,
  spuriousIrqs: 0,
  transmitted: 0,
  arrived: 0,
  placed: 0,
  droppedNoBuffer: 0,
  droppedTooLarge: 0,
  received: 0,
  rechecksFoundWork: 0,
  reoffers: 0,
});

/** The initial context for complete parameters. */
export function initialContext(p: Params): Context {
  const start = p.startIndex;
  return {
    p,
    free: Array.from({ length: p.queueSize }, (_, i) => i),
    availQueue: [],
    usedQueue: [],
    availIdx: start,
    usedIdx: start,
    lastAvail: start,
    lastUsed: start,
    noInterrupt: false,
    noNotify: false,
    suppressing: false,
    usedEvent: start,
    availEvent: start,
    kickOld: start,
    signalOld: null,
    kicksInFlight: 0,
    irqsInFlight: 0,
    everOffered: [],
    stats: zeroStats(),
  };
}

// ---- pure protocol steps (shared by guards and actions) -------------------------------------

/** Driver side: offering `bufs` publishes them; does the kick decision say "notify"? */
function kickWanted(c: Context, added: number): boolean {
  const newIdx = u16(c.availIdx + added);
  return c.p.eventIdx ? vringNeedEvent(c.availEvent, newIdx, c.kickOld) : !c.noNotify;
}

/** Device side: after the used index moved to `newUsed`, does the interrupt decision say "notify"? */
function irqWanted(c: Context, newUsed: number): boolean {
  if (c.p.eventIdx) {
    // vhost: the first decision after setup always signals.
    return c.signalOld === null || vringNeedEvent(c.usedEvent, newUsed, c.signalOld);
  }
  return !c.noInterrupt;
}

/** Transmit: the device takes up to `quota` buffers (0 = all) and returns them used. */
function drainTx(c: Context, quota: number): { taken: OfferedBuffer[]; ctx: Context } {
  const n = quota > 0 ? Math.min(quota, c.availQueue.length) : c.availQueue.length;
  const taken = c.availQueue.slice(0, n);
  const used: UsedElem[] = taken.map((b) => ({ id: b.id, len: 0, frame: b.frame, numBuffers: 1 }));
  return {
    taken,
    ctx: {
      ...c,
      availQueue: c.availQueue.slice(n),
      lastAvail: u16(c.lastAvail + n),
      usedQueue: [...c.usedQueue, ...used],
      usedIdx: u16(c.usedIdx + n),
      // With the event index, a waiting device re-arms avail_event at what it has seen.
      availEvent: c.p.eventIdx && !c.suppressing ? u16(c.lastAvail + n) : c.availEvent,
      stats: { ...c.stats, transmitted: c.stats.transmitted + n },
    },
  };
}

/** Receive: which posted buffers does `frame` need? `null` = drop, with the reason. */
function placement(c: Context, frame: Frame): { buffers: number } | { drop: 'no-buffer' | 'too-large' } {
  const need = frame.bytes + netHeaderBytes(c.p);
  if (c.availQueue.length === 0) return { drop: 'no-buffer' };
  if (!c.p.mergeable) return c.availQueue[0].len >= need ? { buffers: 1 } : { drop: 'too-large' };
  let room = 0;
  for (let i = 0; i < c.availQueue.length; i++) {
    room += c.availQueue[i].len;
    if (room >= need) return { buffers: i + 1 };
  }
  // Not enough posted room now: the frame cannot be placed (the original overran the ring here).
  return { drop: 'no-buffer' };
}

function placeRx(c: Context, frame: Frame, buffers: number): Context {
  let remaining = frame.bytes + netHeaderBytes(c.p);
  const used: UsedElem[] = [];
  for (let i = 0; i < buffers; i++) {
    const b = c.availQueue[i];
    const len = Math.min(remaining, b.len);
    remaining -= len;
    used.push({ id: b.id, len, frame: i === 0 ? frame : null, numBuffers: i === 0 ? buffers : 0 });
  }
  return {
    ...c,
    availQueue: c.availQueue.slice(buffers),
    lastAvail: u16(c.lastAvail + buffers),
    usedQueue: [...c.usedQueue, ...used],
    usedIdx: u16(c.usedIdx + buffers),
    stats: { ...c.stats, arrived: c.stats.arrived + 1, placed: c.stats.placed + 1 },
  };
}

/** Driver: reap up to `budget` frames (receive) or buffers (transmit) from the used ring. */
function reap(c: Context, budget: number): { frames: { frame: Frame; buffers: number }[]; ids: number[]; ctx: Context } {
  const frames: { frame: Frame; buffers: number }[] = [];
  const ids: number[] = [];
  let i = 0;
  let units = 0;
  while (i < c.usedQueue.length && units < budget) {
    const head = c.usedQueue[i];
    const span = c.p.role === 'rx' ? Math.max(1, head.numBuffers) : 1;
    for (let k = 0; k < span; k++) ids.push(c.usedQueue[i + k].id);
    if (c.p.role === 'rx' && head.frame) frames.push({ frame: head.frame, buffers: span });
    i += span;
    units++;
  }
  return {
    frames,
    ids,
    ctx: {
      ...c,
      usedQueue: c.usedQueue.slice(i),
      lastUsed: u16(c.lastUsed + i),
      free: [...c.free, ...ids],
      stats: { ...c.stats, received: c.stats.received + frames.length },
    },
  };
}

function offer(c: Context, bufs: OfferedBuffer[]): Context {
  const ever = c.everOffered.slice();
  let reoffers = c.stats.reoffers;
  for (const b of bufs) {
    if (ever.includes(b.id)) reoffers++;
    else ever.push(b.id);
  }
  return {
    ...c,
    free: c.free.slice(bufs.length),
    availQueue: [...c.availQueue, ...bufs],
    availIdx: u16(c.availIdx + bufs.length),
    everOffered: ever,
    stats: { ...c.stats, reoffers },
  };
}

function buffersFor(c: Context, e: Event): OfferedBuffer[] {
  if (e.type === 'driver.add') return e.frames.map((f, i) => ({ id: c.free[i], len: f.bytes, frame: f }));
  if (e.type === 'driver.post') return e.lengths.map((len, i) => ({ id: c.free[i], len, frame: null }));
  return [];
}

const count = (e: Event): number =>
  e.type === 'driver.add' ? e.frames.length : e.type === 'driver.post' ? e.lengths.length : 0;



const src = (source: string) => ({ source });

export const virtioRingMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as Input | undefined,
    emitted: {} as Emitted,
    meta: {} as { source: string },
  },
  guards: {
    isTx: ({ context }) => context.p.role === 'tx',
    isRx: ({ context }) => context.p.role === 'rx',
    /** The driver owns enough free descriptors for the whole batch, and every buffer is non-empty. */
    roomForBatch: ({ context, event }) => {
      const n = count(event);
      if (n === 0 || n > context.free.length) return false;
      if (event.type === 'driver.add') return event.frames.every((f) => f.bytes > 0);
      if (event.type === 'driver.post') return event.lengths.every((l) => Number.isInteger(l) && l > 0);
      return false;
    },
    /** After publishing the batch, the flag or the event index asks for a kick. */
    kickNeeded: ({ context, event }) => kickWanted(context, count(event)),
    /** Transmit buffers are waiting in the available ring. */
    txWorkPending: ({ context }) => context.p.role === 'tx' && context.availQueue.length > 0,
    /** After returning the buffers this step takes, the flag or the event index asks for an interrupt. */
    irqNeededAfterDrain: ({ context, event }) => {
      const q = event.type === 'device.poll' ? event.quota : 0;
      const n = q > 0 ? Math.min(q, context.availQueue.length) : context.availQueue.length;
      return irqWanted(context, u16(context.usedIdx + n));
    },
    /** The arriving frame (plus the virtio-net header) fits the posted buffers. */
    frameFits: ({ context, event }) =>
      event.type === 'device.deliver' && 'buffers' in placement(context, event.frame),
    irqNeededAfterPlace: ({ context, event }) => {
      if (event.type !== 'device.deliver') return false;
      const pl = placement(context, event.frame);
      return 'buffers' in pl && irqWanted(context, u16(context.usedIdx + pl.buffers));
    },
    irqOnDrop: ({ context }) => context.p.raiseIrqOnDrop,
    usedPending: ({ context }) => context.usedQueue.length > 0,
    validBudget: ({ event }) => event.type === 'driver.reap' && Number.isInteger(event.budget) && event.budget > 0,
    validQuota: ({ event }) => event.type === 'device.poll' && Number.isInteger(event.quota) && event.quota >= 0,
    suppressOn: ({ event }) => event.type === 'device.suppress' && event.on,
    suppressOff: ({ event }) => event.type === 'device.suppress' && !event.on,
  },
  actions: {
    offerBuffers: assign(({ context, event }) => offer(context, buffersFor(context, event))),
    emitKick: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({
        kickOld: context.availIdx,
        kicksInFlight: context.kicksInFlight + 1,
        stats: { ...context.stats, kicks: context.stats.kicks + 1 },
      });
      enqueue.emit({ type: 'kick', availIdx: context.availIdx });
    }),
    noteKickSuppressed: assign(({ context }) => ({
      kickOld: context.availIdx,
      stats: { ...context.stats, kicksSuppressed: context.stats.kicksSuppressed + 1 },
    })),
    takeKick: assign(({ context }) => ({ kicksInFlight: Math.max(0, context.kicksInFlight - 1) })),
    drainAndTransmit: enqueueActions(({ context, event, enqueue }) => {
      const quota = event.type === 'device.poll' ? event.quota : 0;
      const { taken, ctx } = drainTx(context, quota);
      enqueue.assign(ctx);
      for (const b of taken) if (b.frame) enqueue.emit({ type: 'tx.frame', frame: b.frame });
    }),
    placeFrame: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'device.deliver') return;
      const pl = placement(context, event.frame);
      if ('buffers' in pl) enqueue.assign(placeRx(context, event.frame, pl.buffers));
    }),
    dropFrame: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'device.deliver') return;
      const pl = placement(context, event.frame);
      const reason = 'drop' in pl ? pl.drop : 'no-buffer';
      enqueue.assign({
        stats: {
          ...context.stats,
          arrived: context.stats.arrived + 1,
          droppedNoBuffer: context.stats.droppedNoBuffer + (reason === 'no-buffer' ? 1 : 0),
          droppedTooLarge: context.stats.droppedTooLarge + (reason === 'too-large' ? 1 : 0),
        },
      });
      enqueue.emit({ type: 'rx.drop', frame: event.frame, reason });
    }),
    /** Records the interrupt decision point and asks for the interrupt. */
    emitIrq: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({
        signalOld: context.usedIdx,
        irqsInFlight: context.irqsInFlight + 1,
        stats: { ...context.stats, irqs: context.stats.irqs + 1 },
      });
      enqueue.emit({ type: 'irq', usedIdx: context.usedIdx, reason: 'used' });
    }),
    emitDropIrq: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({
        irqsInFlight: context.irqsInFlight + 1,
        stats: { ...context.stats, irqs: context.stats.irqs + 1 },
      });
      enqueue.emit({ type: 'irq', usedIdx: context.usedIdx, reason: 'drop' });
    }),
    noteIrqSuppressed: assign(({ context }) => ({
      signalOld: context.usedIdx,
      stats: { ...context.stats, irqsSuppressed: context.stats.irqsSuppressed + 1 },
    })),
    takeIrq: assign(({ context }) => ({ irqsInFlight: Math.max(0, context.irqsInFlight - 1) })),
    noteSpuriousIrq: assign(({ context }) => ({
      irqsInFlight: Math.max(0, context.irqsInFlight - 1),
      stats: { ...context.stats, spuriousIrqs: context.stats.spuriousIrqs + 1 },
    })),
    /** NAPI: mask this queue's interrupt while polling. */
    maskInterrupts: assign(({ context }) => ({
      noInterrupt: !context.p.eventIdx,
      // With the event index the flag must stay 0; park used_event just behind what was seen,
      // a point the device will not cross before the driver re-arms it.
      usedEvent: context.p.eventIdx ? u16(context.lastUsed - 1) : context.usedEvent,
    })),
    /** Unmask: clear the flag, or re-arm used_event at the next unseen entry. */
    unmaskInterrupts: assign(({ context }) => ({
      noInterrupt: false,
      usedEvent: context.p.eventIdx ? context.lastUsed : context.usedEvent,
    })),
    noteRecheckFoundWork: assign(({ context }) => ({
      stats: { ...context.stats, rechecksFoundWork: context.stats.rechecksFoundWork + 1 },
    })),
    reapUsed: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'driver.reap') return;
      const { frames, ids, ctx } = reap(context, event.budget);
      enqueue.assign(ctx);
      if (context.p.role === 'rx') {
        for (const f of frames) enqueue.emit({ type: 'rx.frame', frame: f.frame, buffers: f.buffers });
      } else if (ids.length > 0) {
        enqueue.emit({ type: 'tx.complete', ids });
      }
    }),
    setNoNotify: assign(({ context }) => ({ suppressing: true, noNotify: !context.p.eventIdx })),
    /** Clear NO_NOTIFY, or re-arm avail_event at what the device has seen. */
    clearNoNotify: assign(({ context }) => ({
      suppressing: false,
      noNotify: false,
      availEvent: context.p.eventIdx ? context.lastAvail : context.availEvent,
    })),
  },
}).createMachine({
  id: 'virtio-ring',
  description: 'One virtio split virtqueue shared by the guest driver and the VMM device.',
  meta: src('§5.1.3; virtio split-ring.tex'),
  context: ({ input }) => initialContext(checkInput(input)),
  type: 'parallel',
  states: {
    driver: {
      description: 'The guest virtio-net driver side of the queue.',
      meta: src('§5.1.3; virtio split-ring.tex "Driver Requirements"'),
      initial: 'interruptsEnabled',
      on: {
        'driver.add': [
          {
            guard: and(['isTx', 'roomForBatch', 'kickNeeded']),
            actions: ['offerBuffers', 'emitKick'],
            description: 'Place frames in free descriptors, publish avail.idx, and kick: NO_NOTIFY is clear or the new entries cross avail_event.',
            meta: src('virtio split-ring.tex "Supplying Buffers to The Device"; §5.1.6 Transmission'),
          },
          {
            guard: and(['isTx', 'roomForBatch']),
            actions: ['offerBuffers', 'noteKickSuppressed'],
            description: 'Place frames and publish, but do not kick: the device set NO_NOTIFY or avail_event is not crossed (no VM exit).',
            meta: src('virtio split-ring.tex "Available Buffer Notification Suppression"; §5.1.2'),
          },
        ],
        'driver.post': [
          {
            guard: and(['isRx', 'roomForBatch', 'kickNeeded']),
            actions: ['offerBuffers', 'emitKick'],
            description: 'Post empty receive buffers, publish avail.idx, and kick the device.',
            meta: src('virtio split-ring.tex "Supplying Buffers to The Device"'),
          },
          {
            guard: and(['isRx', 'roomForBatch']),
            actions: ['offerBuffers', 'noteKickSuppressed'],
            description: 'Post empty receive buffers and publish without a kick (suppressed).',
            meta: src('virtio split-ring.tex "Available Buffer Notification Suppression"'),
          },
        ],
      },
      states: {
        interruptsEnabled: {
          description: 'Interrupts unmasked (NO_INTERRUPT clear, or used_event armed): the driver waits for a used-buffer notification.',
          meta: src('virtio split-ring.tex "Used Buffer Notification Suppression"'),
          on: {
            'driver.interrupt': {
              target: 'polling',
              actions: ['takeIrq', 'maskInterrupts'],
              description: 'The interrupt handler masks further interrupts of this queue and schedules NAPI polling.',
              meta: src('§3.2.1 (Figure 3.1); napi.rst'),
            },
          },
        },
        polling: {
          description: 'NAPI polling with interrupts masked: the driver reaps used buffers without further interrupts.',
          meta: src('napi.rst; virtio split-ring.tex "Receiving Used Buffers From The Device"'),
          on: {
            'driver.interrupt': {
              actions: 'noteSpuriousIrq',
              description: 'An interrupt arriving while polling schedules nothing new and is ignored (spurious notifications must be tolerated).',
              meta: src('virtio split-ring.tex "Notification suppression"'),
            },
            'driver.reap': {
              guard: 'validBudget',
              actions: 'reapUsed',
              description: 'Reap up to budget frames from the used ring and return their descriptors to the free list.',
              meta: src('napi.rst "budget"; virtio split-ring.tex "Receiving Used Buffers From The Device"'),
            },
            'driver.complete': [
              {
                guard: 'usedPending',
                actions: ['unmaskInterrupts', 'noteRecheckFoundWork', 'maskInterrupts'],
                description: 'Unmask, re-check the used ring and find more work: mask again and keep polling, never sleeping on pending work.',
                meta: src('virtio split-ring.tex "Receiving Used Buffers From The Device"; virtqueue_enable_cb'),
              },
              {
                target: 'interruptsEnabled',
                actions: 'unmaskInterrupts',
                description: 'Unmask and re-check: the used ring is drained, so wait for the next interrupt.',
                meta: src('virtio split-ring.tex "Receiving Used Buffers From The Device"; napi_complete_done'),
              },
            ],
          },
        },
      },
    },
    device: {
      description: 'The VMM virtio-net device side of the queue.',
      meta: src('§5.1.3; palacios-notes.md §3'),
      initial: 'notified',
      on: {
        'device.kick': [
          {
            guard: and(['txWorkPending', 'irqNeededAfterDrain']),
            actions: ['takeKick', 'drainAndTransmit', 'emitIrq'],
            description: 'Exit handler: drain the whole transmit ring, hand each frame on, return the buffers and interrupt the guest.',
            meta: src('§5.1.6 Transmission; palacios-notes.md §3.2'),
          },
          {
            guard: 'txWorkPending',
            actions: ['takeKick', 'drainAndTransmit', 'noteIrqSuppressed'],
            description: 'Drain the transmit ring and return the buffers; the driver suppressed the completion interrupt.',
            meta: src('§5.1.6; virtio split-ring.tex "Used Buffer Notification Suppression"'),
          },
          {
            actions: 'takeKick',
            description: 'A kick with nothing to transmit (a receive-ring refill, or a spurious kick): counted, no work.',
            meta: src('palacios-notes.md §2.4 (RX kick only counts a statistic)'),
          },
        ],
        'device.poll': [
          {
            guard: and(['validQuota', 'txWorkPending', 'irqNeededAfterDrain']),
            actions: ['drainAndTransmit', 'emitIrq'],
            description: 'A dispatcher polls the ring: take up to quota frames (0 = all), return them and interrupt the guest.',
            meta: src('§5.1.2 VMM-driven mode; palacios-notes.md §2.1'),
          },
          {
            guard: and(['validQuota', 'txWorkPending']),
            actions: ['drainAndTransmit', 'noteIrqSuppressed'],
            description: 'A dispatcher polls the ring and takes up to quota frames; the completion interrupt is suppressed.',
            meta: src('§5.1.2 VMM-driven mode'),
          },
        ],
        'device.deliver': [
          {
            guard: and(['isRx', 'frameFits', 'irqNeededAfterPlace']),
            actions: ['placeFrame', 'emitIrq'],
            description: 'Copy the frame behind a virtio-net header into posted buffers (several if mergeable), return them, interrupt the guest.',
            meta: src('§5.1.6 Reception; palacios-notes.md §3.3'),
          },
          {
            guard: and(['isRx', 'frameFits']),
            actions: ['placeFrame', 'noteIrqSuppressed'],
            description: 'Place the frame and return the buffers; the driver is polling, so no interrupt.',
            meta: src('virtio split-ring.tex "Used Buffer Notification Suppression"'),
          },
          {
            guard: and(['isRx', 'irqOnDrop']),
            actions: ['dropFrame', 'emitDropIrq'],
            description: 'No posted buffer can hold the frame: drop and count it, and raise the interrupt anyway to push the guest to refill.',
            meta: src('palacios-notes.md §2.4'),
          },
          {
            guard: 'isRx',
            actions: 'dropFrame',
            description: 'No posted buffer can hold the frame: drop and count it.',
            meta: src('palacios-notes.md §2.4'),
          },
        ],
      },
      states: {
        notified: {
          description: 'Guest-driven: NO_NOTIFY clear (or avail_event re-armed); the device acts when a kick arrives.',
          meta: src('§5.1.2 guest-driven mode; virtio split-ring.tex "Available Buffer Notification Suppression"'),
          on: {
            'device.suppress': {
              guard: 'suppressOn',
              target: 'polling',
              actions: 'setNoNotify',
              description: 'Switch to VMM-driven: set NO_NOTIFY so the guest stops kicking; a dispatcher polls instead.',
              meta: src('§5.1.2 VMM-driven mode; palacios-notes.md §2.2 (tx_notify)'),
            },
          },
        },
        polling: {
          description: 'VMM-driven: NO_NOTIFY set (avail_event left stale); the guest stops kicking and a dispatcher polls the ring.',
          meta: src('§5.1.2 VMM-driven mode'),
          on: {
            'device.suppress': [
              {
                guard: and(['suppressOff', 'txWorkPending', 'irqNeededAfterDrain']),
                target: 'notified',
                actions: ['clearNoNotify', 'drainAndTransmit', 'emitIrq'],
                description: 'Switch to guest-driven: clear NO_NOTIFY, re-check the ring, find frames published meanwhile and transmit them.',
                meta: src('§5.1.2; vhost_enable_notify re-check'),
              },
              {
                guard: and(['suppressOff', 'txWorkPending']),
                target: 'notified',
                actions: ['clearNoNotify', 'drainAndTransmit', 'noteIrqSuppressed'],
                description: 'Switch to guest-driven, re-check, transmit what was published meanwhile; completion interrupt suppressed.',
                meta: src('§5.1.2; vhost_enable_notify re-check'),
              },
              {
                guard: 'suppressOff',
                target: 'notified',
                actions: 'clearNoNotify',
                description: 'Switch to guest-driven: clear NO_NOTIFY; the re-check finds nothing pending.',
                meta: src('§5.1.2 guest-driven mode'),
              },
            ],
          },
        },
      },
    },
  },
});

export type VirtioRingMachine = typeof virtioRingMachine;

// ---- catalog entry -----------------------------------------------------------------------------

type Snap = SnapshotFrom<VirtioRingMachine>;

const inDriver = (s: Snap, state: 'interruptsEnabled' | 'polling') =>
  (s.value as { driver: string }).driver === state;
const inDevice = (s: Snap, state: 'notified' | 'polling') => (s.value as { device: string }).device === state;

/** Safety properties of the ring handshake alone. */
export const invariants: readonly Invariant<Snap>[] = [
  {
    name: 'ring-occupancy-within-size',
    description:
      'avail.idx - used.idx (mod 2^16) never exceeds the queue size, and the private indices agree with the published ones: no buffer is used before it was made available.',
    source: 'virtio split-ring.tex; protocol-notes.md §5 invariant 1',
    check: (s) => {
      const c = s.context;
      const out = u16(c.availIdx - c.usedIdx);
      if (out > c.p.queueSize) return `avail.idx - used.idx = ${out} exceeds queue size ${c.p.queueSize}`;
      if (u16(c.availIdx - c.lastAvail) !== c.availQueue.length)
        return `avail.idx - last_avail_idx = ${u16(c.availIdx - c.lastAvail)} but ${c.availQueue.length} buffers are pending`;
      if (u16(c.usedIdx - c.lastUsed) !== c.usedQueue.length)
        return `used.idx - last_used_idx = ${u16(c.usedIdx - c.lastUsed)} but ${c.usedQueue.length} used elements are unreaped`;
      return undefined;
    },
    witness: {
      name: 'ring-fills',
      description: 'The driver sometimes has every descriptor outstanding (the ring is full).',
      reached: (s) => s.context.free.length === 0,
    },
  },
  {
    name: 'buffer-ownership-exclusive',
    description:
      'Every descriptor is in exactly one place: the driver free list, the available ring (the device holds it), or the used ring (returned, not yet reaped). So no buffer is used twice, every used id was made available exactly once, and the driver never overwrites a buffer the device still holds.',
    source: 'virtio split-ring.tex "The Virtqueue Descriptor Table"; protocol-notes.md §5 invariant 3',
    check: (s) => {
      const c = s.context;
      const seen = new Map<number, string>();
      const places: [string, readonly number[]][] = [
        ['free list', c.free],
        ['available ring', c.availQueue.map((b) => b.id)],
        ['used ring', c.usedQueue.map((u) => u.id)],
      ];
      for (const [place, ids] of places) {
        for (const id of ids) {
          if (!Number.isInteger(id) || id < 0 || id >= c.p.queueSize) return `descriptor ${id} in the ${place} does not exist`;
          const other = seen.get(id);
          if (other) return `descriptor ${id} is both in the ${other} and in the ${place}`;
          seen.set(id, place);
        }
      }
      if (seen.size !== c.p.queueSize) return `${c.p.queueSize - seen.size} descriptors are lost (in no ring and not free)`;
      return undefined;
    },
    witness: {
      name: 'descriptor-reused',
      description: 'A descriptor is sometimes offered again after the device returned it.',
      reached: (s) => s.context.stats.reoffers > 0,
    },
  },
  {
    name: 'no-lost-kick',
    description:
      'When transmit buffers wait in the ring of a device that relies on kicks (guest-driven), a kick is on its way: the driver kicked after publishing, and the device re-checked when it stopped polling.',
    source: 'virtio split-ring.tex "Available Buffer Notification Suppression"; protocol-notes.md §5 invariant 4',
    check: (s) => {
      const c = s.context;
      if (c.p.role === 'tx' && inDevice(s, 'notified') && c.availQueue.length > 0 && c.kicksInFlight === 0)
        return `${c.availQueue.length} transmit buffers wait for a device that expects a kick, and no kick is in flight`;
      return undefined;
    },
    witness: {
      name: 'buffers-await-kick',
      description: 'Transmit buffers sometimes wait for a guest-driven device (the kick is in flight).',
      reached: (s) => s.context.p.role === 'tx' && inDevice(s, 'notified') && s.context.availQueue.length > 0,
    },
  },
  {
    name: 'no-lost-interrupt',
    description:
      'When used buffers wait for a driver that has interrupts enabled, an interrupt is on its way: the device interrupted after returning them, and the driver re-checked the ring when it unmasked.',
    source: 'virtio split-ring.tex "Receiving Used Buffers From The Device"; protocol-notes.md §5 invariant 4',
    check: (s) => {
      const c = s.context;
      if (inDriver(s, 'interruptsEnabled') && c.usedQueue.length > 0 && c.irqsInFlight === 0)
        return `${c.usedQueue.length} used buffers wait for a driver with interrupts enabled, and no interrupt is in flight`;
      return undefined;
    },
    witness: {
      name: 'used-awaits-interrupt',
      description: 'Used buffers sometimes wait for a driver with interrupts enabled (the interrupt is in flight).',
      reached: (s) => inDriver(s, 'interruptsEnabled') && s.context.usedQueue.length > 0,
    },
  },
  {
    name: 'receive-accounting',
    description: 'Every frame that arrives at the receive queue is either placed in posted buffers or dropped with a counted reason.',
    source: 'palacios-notes.md §2.4; ARCHITECTURE.md (conservation)',
    check: (s) => {
      const st = s.context.stats;
      const out = st.placed + st.droppedNoBuffer + st.droppedTooLarge;
      return st.arrived === out ? undefined : `${st.arrived} frames arrived but ${out} were placed or dropped`;
    },
    witness: {
      name: 'frame-dropped-no-buffer',
      description: 'A frame sometimes arrives with no posted buffer and is dropped.',
      reached: (s) => s.context.stats.droppedNoBuffer > 0,
    },
  },
];

/** "Sometimes" conditions beyond the invariants' own. */
export const witnesses: readonly Witness<Snap>[] = [
  {
    name: 'index-wraps',
    description: 'used.idx sometimes wraps past 65535 (samples start near the wrap).',
    reached: (s) => s.context.p.startIndex > 0 && s.context.usedIdx < s.context.p.startIndex,
  },
  {
    name: 'kick-suppressed',
    description: 'A publish is sometimes not followed by a kick because the device suppressed it.',
    reached: (s) => s.context.stats.kicksSuppressed > 0,
  },
  {
    name: 'recheck-finds-work',
    description: 'The driver re-check after unmasking sometimes finds used buffers that arrived meanwhile.',
    reached: (s) => s.context.stats.rechecksFoundWork > 0,
  },
  {
    name: 'frame-spans-buffers',
    description: 'A received frame sometimes spans several mergeable buffers.',
    reached: (s) => s.context.usedQueue.some((u) => u.numBuffers > 1),
  },
  {
    name: 'spurious-interrupt',
    description: 'An interrupt sometimes arrives while the driver is already polling.',
    reached: (s) => s.context.stats.spuriousIrqs > 0,
  },
];

/** The exploration alphabet: a handful of concrete events, enough to reach every transition. */
export function explorationEvents(s: Snap): Event[] {
  const c = s.context;
  const ev: Event[] = [];
  // Notifications in flight are bounded so that the explored space is finite: the environment
  // delivers a kick or an interrupt before a third one is asked for.
  const driverMayPublish = c.kicksInFlight < 2;
  const deviceMayInterrupt = c.irqsInFlight < 2;
  if (c.p.role === 'tx') {
    const f = (k: number): Frame => ({ id: u16(c.availIdx + k), bytes: 60 });
    if (driverMayPublish) {
      ev.push({ type: 'driver.add', frames: [f(0)] });
      if (c.free.length >= 2) ev.push({ type: 'driver.add', frames: [f(0), f(1)] });
    }
    if (deviceMayInterrupt) ev.push({ type: 'device.poll', quota: 1 });
  } else {
    if (driverMayPublish) ev.push({ type: 'driver.post', lengths: [64] });
    if (deviceMayInterrupt) {
      ev.push({ type: 'device.deliver', frame: { id: c.stats.arrived, bytes: 40 } });
      ev.push({ type: 'device.deliver', frame: { id: c.stats.arrived, bytes: 100 } });
    }
  }
  if (c.kicksInFlight > 0 && deviceMayInterrupt) ev.push({ type: 'device.kick' });
  if (c.irqsInFlight > 0) ev.push({ type: 'driver.interrupt' });
  ev.push({ type: 'driver.reap', budget: 1 }, { type: 'driver.complete' });
  if (deviceMayInterrupt) ev.push({ type: 'device.suppress', on: true }, { type: 'device.suppress', on: false });
  return ev;
}

/**
 * A finite key: indices relative to used.idx, descriptor identities and counters dropped. The
 * event-index fields matter only with the event index; an avail_event the driver has already
 * passed is "behind", and all such values decide alike (no kick until the device re-arms it);
 * likewise a used_event behind the device's last interrupt decision.
 */
export function serializeState(s: Snap): string {
  const c = s.context;
  const rel = (x: number) => u16(x - c.usedIdx);
  const ev = c.p.eventIdx;
  const availEventAhead = u16(c.availEvent - c.kickOld);
  const usedEventAhead = c.signalOld === null ? u16(c.usedEvent - c.usedIdx) : u16(c.usedEvent - c.signalOld);
  return JSON.stringify([
    s.value,
    c.free.length,
    c.availQueue.map((b) => (b.frame ? b.frame.bytes : -b.len)),
    c.usedQueue.map((u) => [u.len, u.numBuffers]),
    rel(c.availIdx),
    rel(c.lastAvail),
    rel(c.lastUsed),
    c.noInterrupt,
    c.noNotify,
    c.suppressing,
    rel(c.kickOld),
    ev ? (usedEventAhead > c.p.queueSize ? 'behind' : usedEventAhead) : null,
    ev ? (availEventAhead > c.p.queueSize ? 'behind' : availEventAhead) : null,
    ev && c.signalOld !== null ? rel(c.signalOld) : ev ? 'never' : null,
    c.kicksInFlight,
    c.irqsInFlight,
  ]);
}

export const entry = defineEntry({
  id: 'virtio-ring',
  title: 'virtio split virtqueue (vNIC ring handshake)',
  summary:
    'The guest driver and the VMM device share a descriptor table, an available ring and a used ring. ' +
    'The driver places buffers, publishes avail.idx and kicks the device (a VM exit) unless the device ' +
    'suppressed kicks with VRING_USED_F_NO_NOTIFY or, with the event index, avail_event is not crossed. ' +
    'The device takes buffers (transmit) or fills posted buffers with an arriving frame (receive), ' +
    'returns them in the used ring and interrupts the guest unless the driver masked interrupts while ' +
    'polling. Unmasking is followed by a re-check of the ring on both sides, so that neither sleeps on ' +
    'work published in between. A receive with no posted buffer drops the frame, counts it and, as in ' +
    'the original Palacios device, raises the interrupt anyway.',
  source: ['§5.1.3', '§5.1.6', 'virtio 1.x split-ring.tex', 'palacios-notes.md §2.4, §3'],
  machine: virtioRingMachine,
  params,
  checkInput,
  samples: [
    { name: 'tx', input: { role: 'tx', queueSize: 2, startIndex: 65534 } },
    { name: 'rx-mergeable', input: { role: 'rx', queueSize: 2, startIndex: 65535 } },
    { name: 'tx-event-idx', input: { role: 'tx', queueSize: 2, eventIdx: true } },
    { name: 'rx-event-idx-no-drop-irq', input: { role: 'rx', queueSize: 2, eventIdx: true, mergeable: false, raiseIrqOnDrop: false } },
  ],
  invariants,
  witnesses,
  events: explorationEvents,
  serializeState,
  accepts: [
    { type: 'driver.add', description: 'Driver places transmit frames in free descriptors and publishes them (transmit queue).' },
    { type: 'driver.post', description: 'Driver posts empty receive buffers of given lengths and publishes them (receive queue).' },
    { type: 'driver.interrupt', description: 'A requested interrupt reaches the guest driver.' },
    { type: 'driver.reap', description: 'NAPI poll: reap up to `budget` frames from the used ring.' },
    { type: 'driver.complete', description: 'NAPI done: unmask interrupts and re-check the used ring.' },
    { type: 'device.kick', description: 'A kick reaches the device (the VM exit of the I/O port write is handled).' },
    { type: 'device.poll', description: 'A dispatcher polls the transmit ring for up to `quota` frames (0 = all).' },
    { type: 'device.deliver', description: 'A frame arrives for this vNIC (receive queue).' },
    { type: 'device.suppress', description: 'The device sets (`on`) or clears VRING_USED_F_NO_NOTIFY: VMM-driven or guest-driven.' },
  ],
  emits: [
    { type: 'kick', description: 'Available-buffer notification: the guest writes the notify port, a VM exit.' },
    { type: 'irq', description: 'Used-buffer notification: inject a virtual interrupt (reason `used`, or `drop` on a full ring).' },
    { type: 'tx.frame', description: 'The device took a frame from the guest for the VNET/P core.' },
    { type: 'tx.complete', description: 'The driver reclaimed completed transmit buffers.' },
    { type: 'rx.frame', description: "The driver handed a received frame to the guest's network stack." },
    { type: 'rx.drop', description: 'The device dropped an arriving frame (no posted buffer, or too large).' },
  ],
});
