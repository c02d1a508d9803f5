/**
 * Zero-copy cut-through forwarding between one guest vNIC and the host NIC (VNET/P+), against the
 * VNET/P data path that copies each frame once inside the VMM.
 *
 * Sources: dissertation §4.4 (transmit: the guest frame goes to the host NIC as a scatter/gather
 * list with the UDP, IP and Ethernet headers added as their own entries, no copy; receive: the host
 * NIC DMAs the frame, encapsulation included, straight into buffers the guest posted; the guest
 * driver strips a header whose length the vNIC exports in its PCI configuration space, and a change
 * of that length raises a configuration-change interrupt), §5.1.6 (VNET/P copies a frame exactly
 * once inside the VMM: TXQ to the bridge's buffer, and symmetrically on receive), §5.2 (memory
 * allocator and event dispatcher carry out the mapping and the interrupt).
 *
 * Choices the dissertation leaves open, made here:
 * - the default header is plain MAC-in-UDP over IPv4, 42 bytes (palacios-notes.md §4: the original
 *   encapsulates with no VNET header); `changedHeaderBytes` is what the overlay may switch to;
 * - the configuration space says where a change takes effect as well as the new length: the VMM
 *   records the receive sequence number of the first frame encapsulated with it, so the guest strips
 *   frames before that point with the old length, and holds the first frame after it until it has
 *   taken the configuration-change interrupt and re-read the length;
 * - the guest defers the re-read until it has stripped every frame received before the change (so
 *   a re-read never makes those stale); until the guest has re-read, the VMM refuses a further
 *   change (the control plane retries), so at most one change is outstanding;
 * - in copy mode the VMM strips the encapsulation itself, the guest sees none, and a header change
 *   raises no interrupt;
 * - a receive with no posted guest buffer drops the frame (the host NIC has no descriptor to DMA into).
 */
import { and, assign, enqueueActions, setup, type SnapshotFrom } from 'xstate';
import { defineEntry, type Invariant, type Witness } from './catalog-entry.js';
import { checkParams, InputError, type ParamsOf } from './params.js';

export const params = {
  mode: {
    kind: 'enum',
    default: 'cut-through',
    values: ['cut-through', 'copy'] as const,
    description:
      'cut-through: frames move between guest buffers and the host NIC by scatter/gather and DMA, copied zero times (VNET/P+). copy: the VNET/P path, one copy per frame inside the VMM.',
    source: '§4.4; §5.1.6 ("copied only once inside the VMM")',
  },
  headerBytes: {
    kind: 'number',
    default: 42,
    min: 1,
    max: 256,
    integer: true,
    unit: 'bytes',
    description: 'Encapsulation header length at start: Ethernet 14 + IPv4 20 + UDP 8, the plain MAC-in-UDP of the original.',
    source: '§4.4; palacios-notes.md §4 (plain UDP encapsulation)',
  },
  changedHeaderBytes: {
    kind: 'number',
    default: 62,
    min: 1,
    max: 256,
    integer: true,
    unit: 'bytes',
    description:
      'The length the overlay may switch to (exploration alternates between the two): 62 is the same UDP encapsulation over IPv6. Must differ from headerBytes.',
    source: '§4.4 ("if the encapsulation header length changes")',
  },
  ringSize: {
    kind: 'number',
    default: 256,
    min: 1,
    max: 4096,
    integer: true,
    unit: 'buffers',
    description: 'Receive buffers the guest may have posted or filled at once.',
    source: '§5.1.3; virtio split-ring.tex',
  },
} as const;

export type Params = ParamsOf<typeof params>;
export type Input = Partial<Params>;

/** Returns complete parameters or throws an `InputError` naming the field. */
export function checkInput(input: unknown): Params {
  const p = checkParams('cut-through', params, input);
  if (p.changedHeaderBytes === p.headerBytes)
    throw new InputError('cut-through', 'changedHeaderBytes', p.changedHeaderBytes, `a length other than headerBytes (${p.headerBytes})`);
  return p;
}

export interface Frame {
  readonly id: number;
  /** Bytes of the guest's Ethernet frame (the payload of the encapsulation). */
  readonly bytes: number;
}

/** A received frame sitting in a guest buffer. */
export interface Received {
  readonly id: number;
  /** Receive sequence number (order of placement). */
  readonly seq: number;
  readonly bytes: number;
  /** Encapsulation header bytes in front of the frame in the buffer (0 in copy mode: the VMM stripped it). */
  readonly headerBytes: number;
}

export interface Stats {
  txFrames: number;
  rxArrived: number;
  rxPlaced: number;
  rxDropped: number;
  copies: number;
  copiedBytes: number;
  stripped: number;
  held: number;
  headerChanges: number;
  /** Header changes made while received frames still waited in the guest's ring. */
  midStreamChanges: number;
  refusedChanges: number;
  configIrqs: number;
}

export interface Context {
  readonly p: Params;
  /** Header length the VMM encapsulates with and exports in the configuration space. */
  configHeaderBytes: number;
  /** Header length the guest driver last read from the configuration space. */
  guestHeaderBytes: number;
  /** The outstanding change: new length and the sequence number of the first frame carrying it. */
  change: { headerBytes: number; at: number } | null;
  /** A configuration-change interrupt was raised and has not reached the guest. */
  configIrqInFlight: boolean;
  /** The guest took the interrupt and will re-read once the frames before the change are stripped. */
  configIrqSeen: boolean;
  /** Empty buffers the guest has posted. */
  posted: number;
  /** Filled buffers awaiting the guest, in ring order. */
  ring: Received[];
  /** Sequence number of the next frame placed. */
  rxSeq: number;
  /** Ghost: the last strip: the length the frame was encapsulated with and the length stripped. */
  lastStrip: { frameHeaderBytes: number; strippedBytes: number } | null;
  stats: Stats;
}

export type Event =
  /** The guest driver hands a frame to the vNIC for transmission. */
  | { type: 'guest.tx'; frame: Frame }
  /** The guest driver posts one empty receive buffer. */
  | { type: 'guest.post' }
  /** A frame, encapsulated with the current header length, arrives at the host NIC. */
  | { type: 'host.rx'; frame: Frame }
  /** The overlay switches encapsulation: the VMM writes the new length to the configuration space. */
  | { type: 'vmm.header-change'; headerBytes: number }
  /** The configuration-change interrupt reaches the guest driver. */
  | { type: 'guest.config-irq' }
  /** The guest driver processes the next filled buffer: strips the header and hands the frame up. */
  | { type: 'guest.strip' };

export type Segment =
  | { readonly kind: 'header'; readonly bytes: number }
  | { readonly kind: 'guest'; readonly bufferId: number; readonly bytes: number }
  | { readonly kind: 'host'; readonly bytes: number };

export type Emitted =
  /** The host NIC is handed a scatter/gather list to transmit. */
  | { type: 'nic.tx'; frameId: number; segments: readonly Segment[] }
  /** Payload bytes copied by the CPU between a guest and a host buffer. */
  | { type: 'copy'; frameId: number; bytes: number }
  /** A received frame lands in a guest buffer, by NIC DMA (cut-through) or by a VMM copy. */
  | { type: 'rx.placed'; frameId: number; bytes: number; headerBytes: number; via: 'dma' | 'copy' }
  | { type: 'rx.drop'; frameId: number; reason: 'no-buffer' }
  /** The guest stripped `headerBytes` and handed the frame to its stack. */
  | { type: 'rx.frame'; frameId: number; bytes: number; headerBytes: number }
  /** The guest holds a frame encapsulated after a change it has not yet re-read. */
  | { type: 'rx.held'; frameId: number }
  | { type: 'virq.config-change'; headerBytes: number }
  | { type: 'header-change.refused'; headerBytes: number }
  | { type: 'config.reread'; headerBytes: number };

const zeroStats = (): Stats => ({
  txFrames: 0,
  rxArrived: 0,
  rxPlaced: 0,
  rxDropped: 0,
  copies: 0,
  copiedBytes: 0,
  stripped: 0,
  held: 0,
  headerChanges: 0,
  midStreamChanges: 0,
  refusedChanges: 0,
  configIrqs: 0,
});

/** The initial context: in cut-through mode the guest read the header length when it probed the device. */
export function initialContext(p: Params): Context {
  const cut = p.mode === 'cut-through';
  return {
    p,
    configHeaderBytes: p.headerBytes,
    guestHeaderBytes: cut ? p.headerBytes : 0,
    change: null,
    configIrqInFlight: false,
    configIrqSeen: false,
    posted: 0,
    ring: [],
    rxSeq: 0,
    lastStrip: null,
    stats: zeroStats(),
  };
}

/** The head frame was received before the outstanding change (or there is none). */
const headBeforeChange = (c: Context) => c.ring.length > 0 && (c.change === null || c.ring[0].seq < c.change.at);
/** No frame received before the outstanding change is left in the ring. */
const noOldFramesLeft = (c: Context) => c.change !== null && (c.ring.length === 0 || c.ring[0].seq >= c.change.at);

const src = (source: string) => ({ source });

export const cutThroughMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as Input | undefined,
    emitted: {} as Emitted,
    meta: {} as { source: string },
  },
  guards: {
    isCutThrough: ({ context }) => context.p.mode === 'cut-through',
    roomToPost: ({ context }) => context.posted + context.ring.length < context.p.ringSize,
    bufferPosted: ({ context }) => context.posted > 0,
    ringNonEmpty: ({ context }) => context.ring.length > 0,
    lengthDiffers: ({ context, event }) =>
      event.type === 'vmm.header-change' && Number.isInteger(event.headerBytes) && event.headerBytes > 0 && event.headerBytes !== context.configHeaderBytes,
    /** The head frame precedes the outstanding change: strip it with the length the guest knows. */
    headBeforeChange: ({ context }) => headBeforeChange(context),
    /** The head frame is the last one before the change, and the guest already took the interrupt. */
    lastOldFrameAndIrqSeen: ({ context }) =>
      context.configIrqSeen &&
      context.change !== null &&
      headBeforeChange(context) &&
      (context.ring.length === 1 || context.ring[1].seq >= context.change.at),
    noOldFramesLeft: ({ context }) => noOldFramesLeft(context),
  },
  actions: {
    /** Scatter/gather: the header is its own segment in front of the guest's buffer, nothing copied. */
    transmitCutThrough: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'guest.tx') return;
      enqueue.assign({ stats: { ...context.stats, txFrames: context.stats.txFrames + 1 } });
      enqueue.emit({
        type: 'nic.tx',
        frameId: event.frame.id,
        segments: [
          { kind: 'header', bytes: context.configHeaderBytes },
          { kind: 'guest', bufferId: event.frame.id, bytes: event.frame.bytes },
        ],
      });
    }),
    /** VNET/P: the frame is copied from the TXQ into the bridge's buffer, then encapsulated. */
    transmitCopy: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'guest.tx') return;
      const b = event.frame.bytes;
      enqueue.assign({
        stats: { ...context.stats, txFrames: context.stats.txFrames + 1, copies: context.stats.copies + 1, copiedBytes: context.stats.copiedBytes + b },
      });
      enqueue.emit({ type: 'copy', frameId: event.frame.id, bytes: b });
      enqueue.emit({
        type: 'nic.tx',
        frameId: event.frame.id,
        segments: [
          { kind: 'header', bytes: context.configHeaderBytes },
          { kind: 'host', bytes: b },
        ],
      });
    }),
    postBuffer: assign(({ context }) => ({ posted: context.posted + 1 })),
    /** The host NIC DMAs the whole encapsulated frame into the next posted guest buffer. */
    dmaIntoGuest: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'host.rx') return;
      const r: Received = { id: event.frame.id, seq: context.rxSeq, bytes: event.frame.bytes, headerBytes: context.configHeaderBytes };
      enqueue.assign({
        posted: context.posted - 1,
        ring: [...context.ring, r],
        rxSeq: context.rxSeq + 1,
        stats: { ...context.stats, rxArrived: context.stats.rxArrived + 1, rxPlaced: context.stats.rxPlaced + 1 },
      });
      enqueue.emit({ type: 'rx.placed', frameId: r.id, bytes: r.bytes, headerBytes: r.headerBytes, via: 'dma' });
    }),
    /** VNET/P: the bridge strips the encapsulation and the core copies the frame into a guest buffer. */
    copyIntoGuest: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'host.rx') return;
      const b = event.frame.bytes;
      const r: Received = { id: event.frame.id, seq: context.rxSeq, bytes: b, headerBytes: 0 };
      enqueue.assign({
        posted: context.posted - 1,
        ring: [...context.ring, r],
        rxSeq: context.rxSeq + 1,
        stats: {
          ...context.stats,
          rxArrived: context.stats.rxArrived + 1,
          rxPlaced: context.stats.rxPlaced + 1,
          copies: context.stats.copies + 1,
          copiedBytes: context.stats.copiedBytes + b,
        },
      });
      enqueue.emit({ type: 'copy', frameId: r.id, bytes: b });
      enqueue.emit({ type: 'rx.placed', frameId: r.id, bytes: b, headerBytes: 0, via: 'copy' });
    }),
    dropNoBuffer: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'host.rx') return;
      enqueue.assign({ stats: { ...context.stats, rxArrived: context.stats.rxArrived + 1, rxDropped: context.stats.rxDropped + 1 } });
      enqueue.emit({ type: 'rx.drop', frameId: event.frame.id, reason: 'no-buffer' });
    }),
    /** The guest strips the length it knows from the head frame; the buffer is its own again. */
    stripHead: enqueueActions(({ context, enqueue }) => {
      const f = context.ring[0];
      if (!f) return;
      enqueue.assign({
        ring: context.ring.slice(1),
        lastStrip: { frameHeaderBytes: f.headerBytes, strippedBytes: context.guestHeaderBytes },
        stats: { ...context.stats, stripped: context.stats.stripped + 1 },
      });
      enqueue.emit({ type: 'rx.frame', frameId: f.id, bytes: f.bytes, headerBytes: context.guestHeaderBytes });
    }),
    holdHead: enqueueActions(({ context, enqueue }) => {
      const f = context.ring[0];
      if (!f) return;
      enqueue.assign({ stats: { ...context.stats, held: context.stats.held + 1 } });
      enqueue.emit({ type: 'rx.held', frameId: f.id });
    }),
    /** Cut-through: new length and change point into the configuration space, and the interrupt. */
    changeHeaderAndInterrupt: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'vmm.header-change') return;
      enqueue.assign({
        configHeaderBytes: event.headerBytes,
        change: { headerBytes: event.headerBytes, at: context.rxSeq },
        configIrqInFlight: true,
        configIrqSeen: false,
        stats: {
          ...context.stats,
          headerChanges: context.stats.headerChanges + 1,
          midStreamChanges: context.stats.midStreamChanges + (context.ring.length > 0 ? 1 : 0),
          configIrqs: context.stats.configIrqs + 1,
        },
      });
      enqueue.emit({ type: 'virq.config-change', headerBytes: event.headerBytes });
    }),
    /** Copy mode: only the VMM's encapsulation changes; the guest never sees a header. */
    changeHeaderInVmm: assign(({ context, event }) =>
      event.type !== 'vmm.header-change'
        ? {}
        : {
            configHeaderBytes: event.headerBytes,
            stats: {
              ...context.stats,
              headerChanges: context.stats.headerChanges + 1,
              midStreamChanges: context.stats.midStreamChanges + (context.ring.length > 0 ? 1 : 0),
            },
          },
    ),
    refuseChange: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'vmm.header-change') return;
      enqueue.assign({ stats: { ...context.stats, refusedChanges: context.stats.refusedChanges + 1 } });
      enqueue.emit({ type: 'header-change.refused', headerBytes: event.headerBytes });
    }),
    takeConfigIrq: assign({ configIrqInFlight: false, configIrqSeen: true }),
    /** The guest reads the configuration space: the outstanding change is now known. */
    rereadConfig: enqueueActions(({ context, enqueue }) => {
      const hb = context.change ? context.change.headerBytes : context.configHeaderBytes;
      enqueue.assign({ guestHeaderBytes: hb, change: null, configIrqSeen: false });
      enqueue.emit({ type: 'config.reread', headerBytes: hb });
    }),
  },
}).createMachine({
  id: 'cut-through',
  description:
    'One vNIC\'s data path to the host NIC: zero-copy cut-through (VNET/P+) or one copy inside the VMM (VNET/P). In cut-through the guest ' +
    'strips the encapsulation, whose length it reads from the configuration space; a change of length is announced by a ' +
    'configuration-change interrupt and takes effect from a recorded receive sequence number.',
  meta: src('§4.4; §5.1.6; §5.2'),
  context: ({ input }) => initialContext(checkInput(input)),
  initial: 'lengthKnown',
  on: {
    'guest.tx': [
      {
        guard: 'isCutThrough',
        actions: 'transmitCutThrough',
        description: 'Hand the host NIC a scatter/gather list: the encapsulation headers as one segment, the guest buffer as the next. No copy.',
        meta: src('§4.4 "Zero-copy cut-through transmission"'),
      },
      {
        actions: 'transmitCopy',
        description: 'VNET/P: copy the frame from the TXQ into the bridge buffer (the one copy inside the VMM), encapsulate, transmit.',
        meta: src('§5.1.6 Transmission'),
      },
    ],
    'guest.post': {
      guard: 'roomToPost',
      actions: 'postBuffer',
      description: 'The guest posts an empty receive buffer (in cut-through, the memory allocator hands it to the host NIC).',
      meta: src('§4.4; §5.2 (memory allocator)'),
    },
    'host.rx': [
      {
        guard: and(['isCutThrough', 'bufferPosted']),
        actions: 'dmaIntoGuest',
        description: 'The host NIC DMAs the frame with its encapsulation headers straight into a posted guest buffer. No copy.',
        meta: src('§4.4 "Implicit zero-copy reception"'),
      },
      {
        guard: 'bufferPosted',
        actions: 'copyIntoGuest',
        description: 'VNET/P: the bridge strips the encapsulation and the core copies the frame into the vNIC receive buffer (one copy).',
        meta: src('§5.1.6 Reception'),
      },
      {
        actions: 'dropNoBuffer',
        description: 'No guest buffer is posted: the frame is dropped and counted.',
        meta: src('palacios-notes.md §2.4 (drop on a full receive ring)'),
      },
    ],
  },
  states: {
    lengthKnown: {
      description: 'No header change is outstanding: the guest knows the length every frame in its ring was encapsulated with.',
      meta: src('§4.4'),
      on: {
        'guest.strip': {
          guard: 'ringNonEmpty',
          actions: 'stripHead',
          description: 'Strip the known header length from the head frame and hand the frame to the guest stack.',
          meta: src('§4.4 ("the guest is responsible for stripping encapsulation headers")'),
        },
        'vmm.header-change': [
          {
            guard: and(['isCutThrough', 'lengthDiffers']),
            target: 'changeOutstanding',
            actions: 'changeHeaderAndInterrupt',
            description: 'Write the new length and its change point to the configuration space and raise a configuration-change interrupt.',
            meta: src('§4.4 ("the VMM simply raises an interrupt that notifies the NIC of configuration space changes")'),
          },
          {
            guard: 'lengthDiffers',
            actions: 'changeHeaderInVmm',
            description: 'Copy mode: the VMM strips the encapsulation itself, so only the VMM learns the new length; no interrupt.',
            meta: src('§5.1.6 Reception'),
          },
        ],
      },
    },
    changeOutstanding: {
      description: 'A header change has been announced and the guest has not yet re-read the configuration space.',
      meta: src('§4.4'),
      on: {
        'guest.strip': [
          {
            guard: 'lastOldFrameAndIrqSeen',
            target: 'lengthKnown',
            actions: ['stripHead', 'rereadConfig'],
            description: 'Strip the last frame received before the change with the old length, then handle the deferred re-read.',
            meta: src('§4.4'),
          },
          {
            guard: 'headBeforeChange',
            actions: 'stripHead',
            description: 'The head frame was received before the change point: strip it with the old length.',
            meta: src('§4.4'),
          },
          {
            guard: 'ringNonEmpty',
            actions: 'holdHead',
            description:
              'The head frame is past the change point and the interrupt has not arrived (once it has, the re-read is never left pending): hold the frame, do not strip.',
            meta: src('§4.4'),
          },
        ],
        'guest.config-irq': [
          {
            guard: 'noOldFramesLeft',
            target: 'lengthKnown',
            actions: ['takeConfigIrq', 'rereadConfig'],
            description: 'The configuration-change interrupt arrives with no frame from before the change left: re-read the length now.',
            meta: src('§4.4; virtio "Device Configuration Space"'),
          },
          {
            actions: 'takeConfigIrq',
            description: 'The interrupt arrives while frames from before the change remain: defer the re-read until they are stripped.',
            meta: src('§4.4'),
          },
        ],
        'vmm.header-change': {
          guard: 'lengthDiffers',
          actions: 'refuseChange',
          description: 'A second change before the guest re-read the first is refused (the control plane retries), so one change is outstanding at most.',
          meta: src('§4.4'),
        },
      },
    },
  },
});

export type CutThroughMachine = typeof cutThroughMachine;

// ---- catalog entry -----------------------------------------------------------------------------

type Snap = SnapshotFrom<CutThroughMachine>;

export const invariants: readonly Invariant<Snap>[] = [
  {
    name: 'guest-never-strips-stale-length',
    description: 'The guest strips exactly the header length the frame was encapsulated with: never a stale length after a change.',
    source: '§4.4',
    check: (s) => {
      const l = s.context.lastStrip;
      return l && l.frameHeaderBytes !== l.strippedBytes
        ? `the guest stripped ${l.strippedBytes} bytes from a frame encapsulated with a ${l.frameHeaderBytes}-byte header`
        : undefined;
    },
    witness: {
      name: 'header-change-mid-stream',
      description: 'A header change sometimes happens while frames wait in the guest ring, and a frame carrying the new length is then stripped.',
      reached: (s) =>
        s.context.p.mode === 'cut-through' && s.context.stats.midStreamChanges > 0 && s.context.lastStrip?.frameHeaderBytes === s.context.p.changedHeaderBytes,
    },
  },
  {
    name: 'cut-through-copies-nothing',
    description: 'In cut-through mode no payload byte is copied between guest and host buffers.',
    source: '§4.4 ("all copies between the guest\'s buffer and a host buffer are avoided")',
    check: (s) =>
      s.context.p.mode === 'cut-through' && s.context.stats.copies > 0 ? `${s.context.stats.copies} copies in cut-through mode` : undefined,
    witness: {
      name: 'cut-through-both-ways',
      description: 'In cut-through mode frames are sometimes both transmitted and received.',
      reached: (s) => s.context.p.mode === 'cut-through' && s.context.stats.txFrames > 0 && s.context.stats.rxPlaced > 0,
    },
  },
  {
    name: 'copy-mode-one-copy-per-frame',
    description: 'In copy mode every frame moved (transmitted, or placed in a guest buffer) is copied exactly once; a dropped frame is not copied.',
    source: '§5.1.6',
    check: (s) => {
      const st = s.context.stats;
      if (s.context.p.mode !== 'copy') return undefined;
      const moved = st.txFrames + st.rxPlaced;
      return st.copies === moved ? undefined : `${st.copies} copies for ${moved} frames moved`;
    },
    witness: {
      name: 'copy-mode-both-ways',
      description: 'In copy mode frames are sometimes both transmitted and received.',
      reached: (s) => s.context.p.mode === 'copy' && s.context.stats.txFrames > 0 && s.context.stats.rxPlaced > 0,
    },
  },
];

export const witnesses: readonly Witness<Snap>[] = [
  { name: 'frame-held', description: 'A frame past the change point is sometimes held until the interrupt.', reached: (s) => s.context.stats.held > 0 },
  { name: 'change-refused', description: 'A second header change is sometimes refused.', reached: (s) => s.context.stats.refusedChanges > 0 },
  { name: 'rx-dropped', description: 'A frame sometimes arrives with no posted buffer.', reached: (s) => s.context.stats.rxDropped > 0 },
];

const FRAME_BYTES = 1000;

/** The exploration alphabet: one frame size; header changes alternate between the two lengths. */
export function explorationEvents(s: Snap): Event[] {
  const c = s.context;
  const other = c.configHeaderBytes === c.p.headerBytes ? c.p.changedHeaderBytes : c.p.headerBytes;
  const ev: Event[] = [
    { type: 'guest.tx', frame: { id: c.stats.txFrames, bytes: FRAME_BYTES } },
    { type: 'host.rx', frame: { id: c.stats.rxArrived, bytes: FRAME_BYTES } },
    { type: 'vmm.header-change', headerBytes: other },
  ];
  if (c.posted + c.ring.length < c.p.ringSize) ev.push({ type: 'guest.post' });
  if (c.configIrqInFlight) ev.push({ type: 'guest.config-irq' });
  if (c.ring.length > 0) ev.push({ type: 'guest.strip' });
  return ev;
}

/** A finite key: sequence numbers only as before/after the change point; counters and ids dropped. */
export function serializeState(s: Snap): string {
  const c = s.context;
  return JSON.stringify([
    s.value,
    c.posted,
    c.ring.map((f) => [f.headerBytes, c.change ? f.seq >= c.change.at : null]),
    c.configHeaderBytes,
    c.guestHeaderBytes,
    c.change?.headerBytes ?? null,
    c.configIrqInFlight,
    c.configIrqSeen,
    c.lastStrip ? [c.lastStrip.frameHeaderBytes, c.lastStrip.strippedBytes] : null,
  ]);
}

export const entry = defineEntry({
  id: 'cut-through',
  title: 'Zero-copy cut-through forwarding (VNET/P+) against one copy inside the VMM (VNET/P)',
  summary:
    'Cut-through transmit hands the host NIC a scatter/gather list whose first segment is the encapsulation header and whose second is ' +
    'the guest buffer, so nothing is copied; cut-through receive lets the host NIC DMA the encapsulated frame straight into a buffer ' +
    'the guest posted, and the guest driver strips the header, whose length the vNIC exports in its configuration space. In copy ' +
    'mode (VNET/P) each frame is copied once inside the VMM, and the VMM strips the header. Copies are emitted (`copy`) and counted. ' +
    'A change of header length raises a configuration-change interrupt. Choices made here: the configuration space also records the ' +
    'receive sequence number from which the new length applies; the guest strips earlier frames with the old length, holds later ' +
    'ones until it has taken the interrupt, and defers its re-read until the earlier frames are stripped; the VMM refuses a second ' +
    'change until the guest has re-read the first; in copy mode a change raises no interrupt; a frame with no posted buffer is dropped. ' +
    'Default header: 42 bytes (MAC-in-UDP over IPv4, as the original); the changed length is an input (62, over IPv6).',
  source: ['§4.4', '§5.1.6', '§5.2', 'palacios-notes.md §4'],
  machine: cutThroughMachine,
  params,
  checkInput,
  samples: [
    { name: 'cut-through', input: { mode: 'cut-through', ringSize: 2 } },
    { name: 'copy', input: { mode: 'copy', ringSize: 2 } },
  ],
  invariants,
  witnesses,
  events: explorationEvents,
  serializeState,
  accepts: [
    { type: 'guest.tx', description: 'The guest driver hands a frame to the vNIC for transmission.' },
    { type: 'guest.post', description: 'The guest driver posts one empty receive buffer.' },
    { type: 'host.rx', description: 'A frame, encapsulated with the current header length, arrives at the host NIC.' },
    { type: 'vmm.header-change', description: 'The overlay switches the encapsulation header length to `headerBytes`.' },
    { type: 'guest.config-irq', description: 'The configuration-change interrupt reaches the guest driver.' },
    { type: 'guest.strip', description: 'The guest driver processes the next filled receive buffer.' },
  ],
  emits: [
    { type: 'nic.tx', description: 'A scatter/gather list handed to the host NIC: `header`, then `guest` (cut-through) or `host` (copied) segments.' },
    { type: 'copy', description: 'Payload bytes copied by the CPU between a guest and a host buffer.' },
    { type: 'rx.placed', description: 'A received frame landed in a guest buffer, by DMA (with its header) or by a VMM copy (without).' },
    { type: 'rx.drop', description: 'A received frame found no posted guest buffer and was dropped.' },
    { type: 'rx.frame', description: 'The guest stripped `headerBytes` and handed the frame to its stack.' },
    { type: 'rx.held', description: 'The guest held a frame past the change point until it has re-read the header length.' },
    { type: 'virq.config-change', description: 'Configuration-change interrupt: the exported header length changed.' },
    { type: 'header-change.refused', description: 'A header change was refused because the previous one is not yet re-read.' },
    { type: 'config.reread', description: 'The guest re-read the header length from the configuration space.' },
  ],
});
