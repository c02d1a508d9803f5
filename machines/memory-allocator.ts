/**
 * VNET/P+ memory allocator: ownership of the guest's receive buffers between the guest driver and
 * the host NIC, for zero-copy cut-through reception.
 *
 * Sources: dissertation §5.2 (the memory allocator controls DMA from the host NIC into the vNICs'
 * memory), §4.4 (the host NIC receives straight into buffers the guest provided); virtio
 * split-ring.tex states the same rule between driver and device (a buffer is the device's from when
 * it is made available until it is returned).
 *
 * Every buffer has exactly one owner at every step:
 * - `guest`: the driver holds it (empty, or a frame it has taken back and is processing);
 * - `nic`: posted to the host NIC's receive ring, which may DMA into it;
 * - `filled`: the NIC has DMA-ed a frame into it; it waits for the guest, and the NIC may not touch it.
 *
 * Choices the dissertation leaves open, made here: the NIC fills posted buffers in the order they
 * were posted (a descriptor ring); a post of a buffer the guest does not own is refused, not
 * queued; when the vNIC's host device is released (device allocator) the NIC stops and every
 * posted, unfilled buffer returns to the guest, while filled ones stay with the guest's ring; the
 * mapping and pinning of guest pages for DMA is outside this model.
 */
import { assign, enqueueActions, setup, type SnapshotFrom } from 'xstate';
import { defineEntry, type Invariant, type Witness } from './catalog-entry.js';
import { checkParams, type ParamsOf } from './params.js';

export const params = {
  buffers: {
    kind: 'number',
    default: 256,
    min: 1,
    max: 4096,
    integer: true,
    unit: 'buffers',
    description: 'Guest receive buffers (DMA targets) the allocator manages for one vNIC, numbered 0..buffers-1.',
    source: '§5.2; §4.4',
  },
} as const;

export type Params = ParamsOf<typeof params>;
export type Input = Partial<Params>;

export function checkInput(input: unknown): Params {
  return checkParams('memory-allocator', params, input);
}

export interface Stats {
  posts: number;
  refused: number;
  dmas: number;
  drops: number;
  reads: number;
  reclaimed: number;
}

export interface Context {
  readonly p: Params;
  /** Buffers the guest driver owns. */
  guest: number[];
  /** Buffers posted to the host NIC, in posting order (the NIC fills the oldest first). */
  nic: number[];
  /** Buffers the NIC filled, awaiting the guest, in fill order, with the frame's length. */
  filled: { id: number; bytes: number }[];
  stats: Stats;
}

export type Event =
  /** The guest offers buffer `bufferId` for reception; the allocator hands it to the host NIC. */
  | { type: 'guest.post'; bufferId: number }
  /** The host NIC receives a frame and DMAs it into the oldest posted buffer. */
  | { type: 'nic.dma'; frameId: number; bytes: number }
  /** The guest driver takes the oldest filled buffer back and reads the frame. */
  | { type: 'guest.read' }
  /** The vNIC's host device is released: the NIC stops and unfilled posted buffers return to the guest. */
  | { type: 'release' };

export type Emitted =
  | { type: 'nic.post'; bufferId: number }
  | { type: 'post.refused'; bufferId: number; owner: 'nic' | 'filled' | 'none' }
  | { type: 'dma'; bufferId: number; frameId: number; bytes: number }
  | { type: 'rx.drop'; frameId: number; reason: 'no-buffer' }
  | { type: 'rx.read'; bufferId: number; bytes: number }
  | { type: 'reclaimed'; bufferIds: readonly number[] };

export function initialContext(p: Params): Context {
  return {
    p,
    guest: Array.from({ length: p.buffers }, (_, i) => i),
    nic: [],
    filled: [],
    stats: { posts: 0, refused: 0, dmas: 0, drops: 0, reads: 0, reclaimed: 0 },
  };
}

/** Who owns buffer `id` by the allocator's sets (the first set holding it). */
export function ownerOf(c: Pick<Context, 'guest' | 'nic' | 'filled'>, id: number): 'guest' | 'nic' | 'filled' | 'none' {
  if (c.guest.includes(id)) return 'guest';
  if (c.nic.includes(id)) return 'nic';
  if (c.filled.some((f) => f.id === id)) return 'filled';
  return 'none';
}

const src = (source: string) => ({ source });

export const memoryAllocatorMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as Input | undefined,
    emitted: {} as Emitted,
    meta: {} as { source: string },
  },
  guards: {
    ownedByGuest: ({ context, event }) => event.type === 'guest.post' && context.guest.includes(event.bufferId),
    bufferPosted: ({ context }) => context.nic.length > 0,
    frameWaiting: ({ context }) => context.filled.length > 0,
    anyPosted: ({ context }) => context.nic.length > 0,
  },
  actions: {
    /** Guest to NIC: the buffer leaves the guest's set as it enters the NIC's ring. */
    postToNic: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'guest.post') return;
      enqueue.assign({
        guest: context.guest.filter((b) => b !== event.bufferId),
        nic: [...context.nic, event.bufferId],
        stats: { ...context.stats, posts: context.stats.posts + 1 },
      });
      enqueue.emit({ type: 'nic.post', bufferId: event.bufferId });
    }),
    refusePost: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'guest.post') return;
      const o = ownerOf(context, event.bufferId);
      enqueue.assign({ stats: { ...context.stats, refused: context.stats.refused + 1 } });
      enqueue.emit({ type: 'post.refused', bufferId: event.bufferId, owner: o === 'guest' ? 'none' : o });
    }),
    /** NIC to filled: the DMA writes the oldest posted buffer. */
    dmaIntoBuffer: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'nic.dma') return;
      const [id, ...rest] = context.nic;
      enqueue.assign({
        nic: rest,
        filled: [...context.filled, { id, bytes: event.bytes }],
        stats: { ...context.stats, dmas: context.stats.dmas + 1 },
      });
      enqueue.emit({ type: 'dma', bufferId: id, frameId: event.frameId, bytes: event.bytes });
    }),
    dropNoBuffer: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'nic.dma') return;
      enqueue.assign({ stats: { ...context.stats, drops: context.stats.drops + 1 } });
      enqueue.emit({ type: 'rx.drop', frameId: event.frameId, reason: 'no-buffer' });
    }),
    /** Filled to guest: the guest reads only a buffer the NIC has finished with. */
    readFilled: enqueueActions(({ context, enqueue }) => {
      const [f, ...rest] = context.filled;
      enqueue.assign({
        filled: rest,
        guest: [...context.guest, f.id],
        stats: { ...context.stats, reads: context.stats.reads + 1 },
      });
      enqueue.emit({ type: 'rx.read', bufferId: f.id, bytes: f.bytes });
    }),
    reclaimPosted: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({
        guest: [...context.guest, ...context.nic],
        nic: [],
        stats: { ...context.stats, reclaimed: context.stats.reclaimed + context.nic.length },
      });
      enqueue.emit({ type: 'reclaimed', bufferIds: context.nic });
    }),
  },
}).createMachine({
  id: 'memory-allocator',
  description:
    'Ownership of one vNIC\'s receive buffers between the guest driver and the host NIC. Choices: the NIC fills posted buffers in ' +
    'posting order; a post of a buffer the guest does not own is refused; a release returns unfilled posted buffers to the guest.',
  meta: src('§5.2; §4.4'),
  context: ({ input }) => initialContext(checkInput(input)),
  initial: 'managing',
  states: {
    managing: {
      description: 'The allocator hands guest buffers to the host NIC and returns filled ones to the guest.',
      meta: src('§5.2'),
      on: {
        'guest.post': [
          {
            guard: 'ownedByGuest',
            actions: 'postToNic',
            description: 'The guest owns the buffer: hand it to the host NIC; the guest may no longer touch it.',
            meta: src('§4.4 ("directly into buffers provided by the guest"); §5.2'),
          },
          {
            actions: 'refusePost',
            description: 'The buffer is already posted, filled or unknown: refuse, so no buffer is posted twice.',
            meta: src('§5.2; virtio split-ring.tex "The Virtqueue Descriptor Table"'),
          },
        ],
        'nic.dma': [
          {
            guard: 'bufferPosted',
            actions: 'dmaIntoBuffer',
            description: 'The host NIC DMAs the frame into the oldest posted buffer, which now waits for the guest.',
            meta: src('§5.2 ("controls direct memory access (DMA) from the host NIC")'),
          },
          {
            actions: 'dropNoBuffer',
            description: 'No buffer is posted: the NIC drops the frame.',
            meta: src('palacios-notes.md §2.4'),
          },
        ],
        'guest.read': {
          guard: 'frameWaiting',
          actions: 'readFilled',
          description: 'The guest takes the oldest filled buffer back and reads its frame.',
          meta: src('§4.4'),
        },
        release: {
          guard: 'anyPosted',
          actions: 'reclaimPosted',
          description: 'The host device is released: the NIC stops and every posted, unfilled buffer returns to the guest.',
          meta: src('§5.2'),
        },
      },
    },
  },
});

export type MemoryAllocatorMachine = typeof memoryAllocatorMachine;

// ---- catalog entry -----------------------------------------------------------------------------

type Snap = SnapshotFrom<MemoryAllocatorMachine>;

const places = (c: Context): [string, number[]][] => [
  ['guest', c.guest],
  ['host NIC', c.nic],
  ['filled', c.filled.map((f) => f.id)],
];

export const invariants: readonly Invariant<Snap>[] = [
  {
    name: 'buffer-ownership-exclusive',
    description:
      'No buffer has two owners, nor appears twice in one owner\'s set: the NIC never DMAs into a buffer the guest owns, and the guest never reads a buffer the NIC still owns.',
    source: '§5.2; §4.4',
    check: (s) => {
      const seen = new Map<number, string>();
      for (const [place, ids] of places(s.context)) {
        for (const id of ids) {
          const other = seen.get(id);
          if (other) return other === place ? `buffer ${id} appears twice in the ${place} set` : `buffer ${id} is owned by ${other} and by ${place}`;
          seen.set(id, place);
        }
      }
      return undefined;
    },
    witness: {
      name: 'three-owners-at-once',
      description: 'The guest, the host NIC and the filled ring sometimes each hold a buffer at once, just after the guest read one.',
      reached: (s) => s.context.stats.reads > 0 && s.context.guest.length > 0 && s.context.nic.length > 0 && s.context.filled.length > 0,
    },
  },
  {
    name: 'no-buffer-leak',
    description: 'Every buffer is in some owner\'s set, and only the allocator\'s buffers are: none is lost.',
    source: '§5.2',
    check: (s) => {
      const all = places(s.context).flatMap(([, ids]) => ids);
      for (let id = 0; id < s.context.p.buffers; id++) if (!all.includes(id)) return `buffer ${id} has no owner (leaked)`;
      const stranger = all.find((id) => !Number.isInteger(id) || id < 0 || id >= s.context.p.buffers);
      return stranger === undefined ? undefined : `buffer ${stranger} does not exist`;
    },
    witness: {
      name: 'all-buffers-with-nic',
      description: 'Every buffer is sometimes with the NIC (posted or filled).',
      reached: (s) => s.context.guest.length === 0,
    },
  },
];

export const witnesses: readonly Witness<Snap>[] = [
  { name: 'post-refused', description: 'A post of a buffer the guest does not own is sometimes refused.', reached: (s) => s.context.stats.refused > 0 },
  { name: 'frame-dropped', description: 'A frame sometimes finds no posted buffer.', reached: (s) => s.context.stats.drops > 0 },
  { name: 'posted-reclaimed', description: 'Posted buffers are sometimes reclaimed on release.', reached: (s) => s.context.stats.reclaimed > 0 },
];

/** The exploration alphabet: a post of every buffer (owned or not), a DMA, a read and a release. */
export function explorationEvents(s: Snap): Event[] {
  const c = s.context;
  const ev: Event[] = [];
  for (let id = 0; id < c.p.buffers; id++) ev.push({ type: 'guest.post', bufferId: id });
  ev.push({ type: 'nic.dma', frameId: c.stats.dmas + c.stats.drops, bytes: 1500 }, { type: 'guest.read' }, { type: 'release' });
  return ev;
}

/** A finite key: who owns each buffer and the order of the NIC's and the guest's queues. */
export function serializeState(s: Snap): string {
  const c = s.context;
  return JSON.stringify([s.value, [...c.guest].sort((a, b) => a - b), c.nic, c.filled.map((f) => f.id)]);
}

export const entry = defineEntry({
  id: 'memory-allocator',
  title: 'VNET/P+ memory allocator: DMA buffer ownership between guest and host NIC',
  summary:
    'For zero-copy reception the host NIC DMAs into buffers the guest posted. The memory allocator tracks who owns each buffer: the ' +
    'guest driver, the host NIC (posted, may be DMA-ed into) or nobody but the guest\'s ring (filled, awaiting the guest). A guest post ' +
    'moves a buffer from the guest to the NIC; a DMA fills the oldest posted buffer; a guest read takes the oldest filled buffer back. ' +
    'Ownership is exclusive at every step and no buffer leaks. Choices made here: posting order is fill order; a post of a buffer the ' +
    'guest does not own is refused; on release of the host device the NIC stops and unfilled posted buffers return to the guest; page ' +
    'pinning and mapping are outside the model.',
  source: ['§5.2', '§4.4'],
  machine: memoryAllocatorMachine,
  params,
  checkInput,
  samples: [{ name: 'three-buffers', input: { buffers: 3 } }],
  invariants,
  witnesses,
  events: explorationEvents,
  serializeState,
  accepts: [
    { type: 'guest.post', description: 'The guest offers buffer `bufferId` to the host NIC.' },
    { type: 'nic.dma', description: 'The host NIC receives a frame of `bytes` and DMAs it into the oldest posted buffer.' },
    { type: 'guest.read', description: 'The guest takes back the oldest filled buffer.' },
    { type: 'release', description: 'The vNIC\'s host device is released: unfilled posted buffers return to the guest.' },
  ],
  emits: [
    { type: 'nic.post', description: 'A buffer was handed to the host NIC.' },
    { type: 'post.refused', description: 'A post was refused: the buffer is with the NIC, filled, or unknown.' },
    { type: 'dma', description: 'The host NIC DMA-ed a frame into a buffer.' },
    { type: 'rx.drop', description: 'A frame found no posted buffer.' },
    { type: 'rx.read', description: 'The guest took a filled buffer back.' },
    { type: 'reclaimed', description: 'Posted buffers returned to the guest on release.' },
  ],
});
