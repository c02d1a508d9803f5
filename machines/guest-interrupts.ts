/**
 * The guest side of a virtual interrupt: the vNIC's interrupt line, its handler and the NAPI-style
 * receive loop of the guest's virtio driver.
 *
 * Sources: dissertation §3.2.1 and Figure 3.1 (the time line T0-T6 from a raised virtual
 * interrupt to the guest processing the vNIC receive queue), §4.3.1 (an EVI is discarded when the
 * guest has interrupts disabled; a handler that runs before the packet is in the ring finds it
 * invalid and wastes guest time), §4.3.2 (an EoC interrupt is held until the guest unmasks),
 * §5.2 (the event dispatcher delivers EVI and EoC to the vNIC); protocol-notes.md §6 (NAPI: mask
 * in the handler, poll, unmask on completion, re-check so that nothing is stranded).
 *
 * The line is unmasked while the driver is idle. Raising the interrupt then takes it at once
 * (`virq.taken`). From the take until the driver unmasks, the line counts as masked (by default:
 * the interrupt is in service at the virtual APIC, then the driver masks it and polls). An
 * interrupt raised meanwhile is discarded if its sender asked for that (an EVI does) and is
 * otherwise held pending, one deep like an IRR bit, and taken the moment the line is unmasked.
 * The handler runs after the delays the model charges (`handler.run`): it either finds frames in
 * the vNIC receive ring (valid: the driver polls) or none (premature: counted, and its guest time
 * is charged by the model from the emitted kind). When the driver is done polling it unmasks and
 * re-checks the ring, so it never sleeps on frames that landed while it was polling.
 *
 * Frames land in the ring (`ring.filled`) whenever the VMM moves them; whether the guest is told
 * is the sender's business (see `optimistic-interrupts`). The guest's own duty, checked by the
 * invariant `no-stranded-frame`, is every frame that landed while it was busy or that was in the
 * ring when it took an interrupt.
 */
import { and, assign, enqueueActions, setup, type SnapshotFrom } from 'xstate';
import { defineEntry, type Invariant, type Witness } from './catalog-entry.js';
import { checkParams, type ParamsOf } from './params.js';

/** Who raised a virtual interrupt: an early virtual interrupt, an end-of-coalescing one, or an ordinary one. */
export type Source = 'evi' | 'eoc' | 'plain';

export const params = {
  maskInService: {
    kind: 'boolean',
    default: true,
    description:
      'Whether the line counts as masked from the moment an interrupt is taken (in service at the virtual APIC, T0-T2, then masked by the driver), ' +
      'or only once the handler has run and the driver masks it for polling. The dissertation leaves this open; it decides whether an EVI raised ' +
      'during the T0-T6 handler latency is discarded (true) or held pending behind the one in service (false).',
    source: '§3.2.1 (Figure 3.1); §4.3.1 case 1',
  },
} as const;

export type Params = ParamsOf<typeof params>;
export type Input = Partial<Params>;

/** Returns complete parameters or throws an `InputError` naming the field. */
export function checkInput(input: unknown): Params {
  return checkParams('guest-interrupts', params, input);
}

export interface Stats {
  taken: number;
  /** Interrupts taken from the pending bit at unmask. */
  pendingTaken: number;
  discarded: number;
  pended: number;
  /** Raises that found an interrupt already pending (merged into it). */
  merged: number;
  valid: number;
  premature: number;
  consumed: number;
  /** Re-checks after unmasking that found frames. */
  rechecksFoundWork: number;
}

export interface Context {
  readonly p: Params;
  /** The line's mask bit, as the VMM reads it when it decides on an EVI (§4.3.1 case 1). */
  masked: boolean;
  /** The interrupt held for the unmask, with its source; null when none. */
  pending: Source | null;
  /** The interrupt taken whose handler has not run yet; null when none. */
  inService: Source | null;
  /** Frames in the vNIC receive ring not yet consumed by the driver. */
  ring: number;
  /**
   * Ghost: frames in the ring the guest itself must find (they landed while it was busy, or were
   * in the ring when it took an interrupt). Frames that land on an idle guest are its sender's to announce.
   */
  obliged: number;
  /** Ghost: the mask bit at the moment of the latest take (null before the first). */
  lastTakeMasked: boolean | null;
  stats: Stats;
}

export type Event =
  /** A virtual interrupt is raised on the vNIC's line (EVI or EoC from the VMM, or an ordinary one). */
  | { type: 'virq.raise'; now: number; discardIfMasked: boolean; source: Source }
  /** The VMM placed `frames` frames in the vNIC receive ring. */
  | { type: 'ring.filled'; now: number; frames: number }
  /** The guest's handler for the taken interrupt actually runs (after the T0-T6 delays the model charges). */
  | { type: 'handler.run'; now: number }
  /** The driver polls: consume up to `budget` frames. */
  | { type: 'driver.process'; now: number; budget: number }
  /** The driver finishes polling: unmask and re-check the ring. */
  | { type: 'driver.done'; now: number };

export type Emitted =
  /** The interrupt was taken: the line is now in service; the handler will run. */
  | { type: 'virq.taken'; now: number; source: Source; fromPending: boolean }
  /** Raised while masked and the sender asked to discard it (an EVI, §4.3.1 case 1). */
  | { type: 'virq.discarded'; now: number; source: Source }
  /** Raised while it could not be taken; held until unmask (`merged` when one was already held). */
  | { type: 'virq.pending'; now: number; source: Source; merged: boolean }
  /** The handler found frames in the ring: the driver masks and polls. */
  | { type: 'handler.valid'; now: number; source: Source; frames: number }
  /** The handler found nothing (§4.3.1 case 2): the model charges the wasted guest time for this kind. */
  | { type: 'handler.premature'; now: number; source: Source }
  /** The driver consumed `n` frames from the ring. */
  | { type: 'frames.consumed'; now: number; n: number }
  /** The re-check after unmasking found frames that landed while polling: the driver keeps polling. */
  | { type: 'recheck.found'; now: number; frames: number };

const zeroStats = (): Stats => ({
  taken: 0,
  pendingTaken: 0,
  discarded: 0,
  pended: 0,
  merged: 0,
  valid: 0,
  premature: 0,
  consumed: 0,
  rechecksFoundWork: 0,
});

/** The initial context for complete parameters. */
export function initialContext(p: Params): Context {
  return { p, masked: false, pending: null, inService: null, ring: 0, obliged: 0, lastTakeMasked: null, stats: zeroStats() };
}

const nowOf = (e: Event): number => e.now;
const src = (source: string) => ({ source });

/** Context after taking an interrupt of `source`: it is in service, the line masks if so configured, every frame in the ring is now the guest's to find. */
function take(c: Context, source: Source, fromPending: boolean): Partial<Context> {
  return {
    inService: source,
    pending: fromPending ? null : c.pending,
    masked: c.p.maskInService || c.masked,
    obliged: c.ring,
    lastTakeMasked: c.masked,
    stats: { ...c.stats, taken: c.stats.taken + 1, pendingTaken: c.stats.pendingTaken + (fromPending ? 1 : 0) },
  };
}

export const guestInterruptsMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as Input | undefined,
    emitted: {} as Emitted,
    meta: {} as { source: string },
  },
  guards: {
    /** The line's mask bit is set. */
    lineMasked: ({ context }) => context.masked,
    /** The sender asked for the interrupt to be dropped rather than held if the line is masked (an EVI). */
    senderDiscardsIfMasked: ({ event }) => event.type === 'virq.raise' && event.discardIfMasked,
    /** The handler finds frames in the receive ring. */
    ringHasFrames: ({ context }) => context.ring > 0,
    /** The re-check after unmasking finds frames in the receive ring. */
    recheckFindsFrames: ({ context }) => context.ring > 0,
    /** An interrupt is held for the unmask. */
    interruptPending: ({ context }) => context.pending !== null,
    validFill: ({ event }) => event.type === 'ring.filled' && Number.isInteger(event.frames) && event.frames > 0,
    validBudget: ({ event }) => event.type === 'driver.process' && Number.isInteger(event.budget) && event.budget > 0,
  },
  actions: {
    takeInterrupt: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'virq.raise') return;
      enqueue.assign(take(context, event.source, false));
      enqueue.emit({ type: 'virq.taken', now: event.now, source: event.source, fromPending: false });
    }),
    /** Takes the held interrupt (the line has just been unmasked). */
    takePending: enqueueActions(({ context, event, enqueue }) => {
      const source = context.pending ?? 'plain';
      enqueue.assign(take(context, source, true));
      enqueue.emit({ type: 'virq.taken', now: nowOf(event), source, fromPending: true });
    }),
    discardInterrupt: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'virq.raise') return;
      enqueue.assign({ stats: { ...context.stats, discarded: context.stats.discarded + 1 } });
      enqueue.emit({ type: 'virq.discarded', now: event.now, source: event.source });
    }),
    /** Holds the interrupt for the unmask; a second one merges into the first (one pending bit). */
    pendInterrupt: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'virq.raise') return;
      const merged = context.pending !== null;
      enqueue.assign({
        pending: context.pending ?? event.source,
        stats: { ...context.stats, pended: context.stats.pended + 1, merged: context.stats.merged + (merged ? 1 : 0) },
      });
      enqueue.emit({ type: 'virq.pending', now: event.now, source: event.source, merged });
    }),
    noteFill: assign(({ context, event }) => {
      if (event.type !== 'ring.filled') return {};
      const busy = context.masked || context.pending !== null || context.inService !== null;
      return { ring: context.ring + event.frames, obliged: context.obliged + (busy ? event.frames : 0) };
    }),
    handlerValid: enqueueActions(({ context, event, enqueue }) => {
      const source = context.inService ?? 'plain';
      enqueue.assign({ inService: null, stats: { ...context.stats, valid: context.stats.valid + 1 } });
      enqueue.emit({ type: 'handler.valid', now: nowOf(event), source, frames: context.ring });
    }),
    handlerPremature: enqueueActions(({ context, event, enqueue }) => {
      const source = context.inService ?? 'plain';
      enqueue.assign({ inService: null, stats: { ...context.stats, premature: context.stats.premature + 1 } });
      enqueue.emit({ type: 'handler.premature', now: nowOf(event), source });
    }),
    /** NAPI: the driver masks the line while it polls. */
    maskLine: assign({ masked: true }),
    unmaskLine: assign({ masked: false }),
    consumeFrames: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'driver.process') return;
      const n = Math.min(event.budget, context.ring);
      const ring = context.ring - n;
      enqueue.assign({ ring, obliged: Math.min(context.obliged, ring), stats: { ...context.stats, consumed: context.stats.consumed + n } });
      if (n > 0) enqueue.emit({ type: 'frames.consumed', now: event.now, n });
    }),
    noteRecheckFoundWork: enqueueActions(({ context, event, enqueue }) => {
      enqueue.assign({ stats: { ...context.stats, rechecksFoundWork: context.stats.rechecksFoundWork + 1 } });
      enqueue.emit({ type: 'recheck.found', now: nowOf(event), frames: context.ring });
    }),
  },
}).createMachine({
  id: 'guest-interrupts',
  description:
    "The guest side of one vNIC's virtual interrupt: the line's mask, the pending bit, the handler's verdict and the driver's poll loop. " +
    'Choices the dissertation leaves open: the line counts as masked from the take (input maskInService); one pending bit (raises merge); ' +
    'at unmask a pending interrupt is taken before the ring is re-checked (its handler will look at the ring).',
  meta: src('§3.2.1 (Figure 3.1); §4.3.1; §4.3.2'),
  context: ({ input }) => initialContext(checkInput(input)),
  initial: 'idle',
  on: {
    'ring.filled': {
      guard: 'validFill',
      actions: 'noteFill',
      description: 'The VMM placed frames in the vNIC receive ring; the guest learns of them only through an interrupt or its own polling.',
      meta: src('§4.3 (data movement into the vNIC); §5.2'),
    },
  },
  states: {
    idle: {
      description: 'The line is unmasked, nothing is in service or pending, and the driver is not polling: it waits for an interrupt.',
      meta: src('§3.2.1; protocol-notes.md §6 (NAPI)'),
      on: {
        'virq.raise': {
          target: 'inService',
          actions: 'takeInterrupt',
          description: 'The line is unmasked, so the interrupt is taken at once (T0); the handler runs later, after the trap-and-emulate delays.',
          meta: src('§3.2.1 (Figure 3.1, T0-T2)'),
        },
      },
    },
    inService: {
      description:
        'An interrupt has been taken and its handler has not run yet (T0-T6 of Figure 3.1). The line is masked if maskInService, else unmasked but busy.',
      meta: src('§3.2.1 (Figure 3.1)'),
      on: {
        'virq.raise': [
          {
            guard: and(['lineMasked', 'senderDiscardsIfMasked']),
            actions: 'discardInterrupt',
            description: 'The line is masked and the sender discards rather than defers (an EVI): the interrupt is dropped, implicitly coalesced with a later one.',
            meta: src('§4.3.1 case 1'),
          },
          {
            actions: 'pendInterrupt',
            description: 'Another interrupt is in service: hold this one (merged with any already held) until the line is unmasked.',
            meta: src('§4.3.2 ("delayed until the guest unmasks interrupts")'),
          },
        ],
        'handler.run': [
          {
            guard: 'ringHasFrames',
            target: 'processing',
            actions: ['handlerValid', 'maskLine'],
            description: 'The handler finds frames in the receive ring (a valid interrupt): the driver masks the line and polls (NAPI).',
            meta: src('§3.2.1 (T4-T6); §4.3.1 case 3; protocol-notes.md §6'),
          },
          {
            guard: 'interruptPending',
            actions: ['handlerPremature', 'unmaskLine', 'takePending'],
            description: 'The handler finds nothing (premature, wasted guest time); on return the line unmasks and the held interrupt is taken at once.',
            meta: src('§4.3.1 case 2; §4.3.2'),
          },
          {
            target: 'idle',
            actions: ['handlerPremature', 'unmaskLine'],
            description: 'The handler finds nothing (premature): the guest ignores the interrupt, having wasted its handling time, and unmasks.',
            meta: src('§4.3.1 case 2'),
          },
        ],
      },
    },
    processing: {
      description: 'The driver polls the receive ring with the line masked (NAPI).',
      meta: src('§3.2.1; protocol-notes.md §6 (NAPI contract)'),
      on: {
        'virq.raise': [
          {
            guard: and(['lineMasked', 'senderDiscardsIfMasked']),
            actions: 'discardInterrupt',
            description: 'The driver has the line masked and the sender discards rather than defers (an EVI): dropped.',
            meta: src('§4.3.1 case 1; §4.3.3'),
          },
          {
            actions: 'pendInterrupt',
            description: 'The line is masked: hold the interrupt (an EoC one, say) until the driver unmasks.',
            meta: src('§4.3.2'),
          },
        ],
        'driver.process': {
          guard: 'validBudget',
          actions: 'consumeFrames',
          description: 'Poll: consume up to budget frames from the receive ring.',
          meta: src('protocol-notes.md §6 (budget)'),
        },
        'driver.done': [
          {
            guard: 'interruptPending',
            target: 'inService',
            actions: ['unmaskLine', 'takePending'],
            description: 'Unmask: the held interrupt is taken at once; its handler will look at the ring.',
            meta: src('§4.3.2 ("delayed until the guest unmasks interrupts")'),
          },
          {
            guard: 'recheckFindsFrames',
            actions: 'noteRecheckFoundWork',
            description: 'Unmask and re-check the ring: frames landed while polling, so mask again and keep polling rather than sleep on them.',
            meta: src('protocol-notes.md §6 invariant 2; virtio split-ring.tex "Receiving Used Buffers From The Device"'),
          },
          {
            target: 'idle',
            actions: 'unmaskLine',
            description: 'Unmask and re-check: the ring is empty, so wait for the next interrupt.',
            meta: src('protocol-notes.md §6 (napi_complete_done, then unmask)'),
          },
        ],
      },
    },
  },
});

export type GuestInterruptsMachine = typeof guestInterruptsMachine;

// ---- catalog entry -----------------------------------------------------------------------------

type Snap = SnapshotFrom<GuestInterruptsMachine>;

const isIdle = (s: Snap) => s.value === 'idle';

/** Safety properties of the guest's interrupt handling alone. */
export const invariants: readonly Invariant<Snap>[] = [
  {
    name: 'no-stranded-frame',
    description:
      'When the driver is idle with the line unmasked and no interrupt pending, no frame it was bound to find is left in the ring: frames that landed while it was busy, or that were there when it took an interrupt, have been consumed (no lost wakeup at the guest level).',
    source: '§3.2.1; protocol-notes.md §6 invariant 2',
    check: (s) => {
      const c = s.context;
      if (isIdle(s) && !c.masked && c.pending === null && c.obliged > 0)
        return `${c.obliged} frames the guest was bound to find wait in the ring of an idle, unmasked driver`;
      return undefined;
    },
    witness: {
      name: 'recheck-finds-work',
      description: 'The re-check after unmasking sometimes finds frames that landed while the driver polled.',
      reached: (s) => s.context.stats.rechecksFoundWork > 0,
    },
  },
  {
    name: 'masked-line-never-takes',
    description: 'An interrupt is taken only on an unmasked line: at every take the mask bit was clear (or was being cleared by the unmask that takes the pending interrupt).',
    source: '§4.3.1 case 1; §4.3.2',
    check: (s) => (s.context.lastTakeMasked === true ? 'an interrupt was taken while the line was masked' : undefined),
    witness: {
      name: 'interrupt-discarded-while-masked',
      description: 'An interrupt (an EVI) is sometimes raised on a masked line and discarded.',
      reached: (s) => s.context.stats.discarded > 0,
    },
  },
  {
    name: 'pending-taken-at-unmask',
    description: 'An unmasked line with nothing in service holds no pending interrupt: a held interrupt is taken the moment the line is unmasked.',
    source: '§4.3.2',
    check: (s) => {
      const c = s.context;
      if (!c.masked && c.inService === null && c.pending !== null) return `the line is unmasked and idle, yet a ${c.pending} interrupt is still pending`;
      return undefined;
    },
    witness: {
      name: 'pending-taken-on-unmask',
      description: 'A held interrupt is sometimes taken when the line is unmasked.',
      reached: (s) => s.context.stats.pendingTaken > 0,
    },
  },
];

/** "Sometimes" conditions beyond the invariants' own. */
export const witnesses: readonly Witness<Snap>[] = [
  {
    name: 'premature-handler',
    description: 'A handler sometimes runs before any frame is in the ring (an EVI that was too early).',
    reached: (s) => s.context.stats.premature > 0,
  },
  {
    name: 'valid-handler',
    description: 'A handler sometimes finds frames in the ring.',
    reached: (s) => s.context.stats.valid > 0,
  },
  {
    name: 'frames-await-idle-guest',
    description: "Frames sometimes land on an idle, unmasked guest with no interrupt coming from the guest's side: only the sender can announce them.",
    reached: (s) => isIdle(s) && s.context.ring > 0,
  },
  {
    name: 'pending-merged',
    description: 'A second interrupt is sometimes raised while one is already held, and merges into it.',
    reached: (s) => s.context.stats.merged > 0,
  },
];

/** Bounds the ring so that exploration is finite; one frame at a time is enough to reach every case. */
const MAX_RING = 2;

/** The exploration alphabet: an EVI (discard if masked), an EoC (defer), a fill, and the guest's own steps. */
export function explorationEvents(s: Snap): Event[] {
  const ev: Event[] = [
    { type: 'virq.raise', now: 0, discardIfMasked: true, source: 'evi' },
    { type: 'virq.raise', now: 0, discardIfMasked: false, source: 'eoc' },
  ];
  if (s.context.ring < MAX_RING) ev.push({ type: 'ring.filled', now: 0, frames: 1 });
  ev.push({ type: 'handler.run', now: 0 }, { type: 'driver.process', now: 0, budget: 1 }, { type: 'driver.done', now: 0 });
  return ev;
}

/** A finite key: counters and interrupt sources dropped (a source only labels effects). */
export function serializeState(s: Snap): string {
  const c = s.context;
  return JSON.stringify([s.value, c.masked, c.pending !== null, c.inService !== null, c.ring, c.obliged, c.lastTakeMasked]);
}

export const entry = defineEntry({
  id: 'guest-interrupts',
  title: "Guest virtual interrupt handling (line mask, pending bit, handler verdict, NAPI poll)",
  summary:
    "The guest side of a vNIC's virtual interrupt (Figure 3.1). With the line unmasked, a raised interrupt is taken at once; its handler " +
    'runs after the trap-and-emulate delays T0-T6 that the model charges. From the take until the driver unmasks, the line counts as masked ' +
    '(input maskInService: false makes it masked only while the driver polls). An interrupt raised on a masked line is discarded if its ' +
    'sender asked for that (an EVI, §4.3.1 case 1) and otherwise held in one pending bit and taken the moment the line is unmasked (an EoC ' +
    'interrupt, §4.3.2). The handler either finds frames in the receive ring (valid: the driver masks and polls, NAPI-style) or none ' +
    '(premature, §4.3.1 case 2: counted and emitted with its source so the model can charge the wasted guest time; premature EVIs are ' +
    "detected here, not in optimistic-interrupts). When done the driver unmasks; a pending interrupt is then taken first, else the ring is " +
    're-checked and polling continues if frames landed meanwhile, so the guest never sleeps on work that is its own to find.',
  source: ['§3.2.1', '§4.3.1', '§4.3.2', '§5.2', 'protocol-notes.md §6'],
  machine: guestInterruptsMachine,
  params,
  checkInput,
  samples: [
    { name: 'masked-in-service', input: {} },
    { name: 'unmasked-in-service', input: { maskInService: false } },
  ],
  invariants,
  witnesses,
  events: explorationEvents,
  serializeState,
  accepts: [
    { type: 'virq.raise', description: 'A virtual interrupt is raised on the line; `discardIfMasked` (an EVI) drops it on a masked line instead of holding it.' },
    { type: 'ring.filled', description: 'The VMM placed `frames` frames in the vNIC receive ring.' },
    { type: 'handler.run', description: "The taken interrupt's handler runs, after the T0-T6 delays the model charges." },
    { type: 'driver.process', description: 'The driver polls, consuming up to `budget` frames.' },
    { type: 'driver.done', description: 'The driver finishes polling: unmask, take a pending interrupt or re-check the ring.' },
  ],
  emits: [
    { type: 'virq.taken', description: 'An interrupt was taken (at once, or from the pending bit at unmask).' },
    { type: 'virq.discarded', description: 'An interrupt raised on a masked line was dropped at its sender\'s request (EVI).' },
    { type: 'virq.pending', description: 'An interrupt was held for the unmask (`merged` into one already held).' },
    { type: 'handler.valid', description: 'The handler found frames in the ring; the driver polls.' },
    { type: 'handler.premature', description: 'The handler found nothing: wasted guest time, charged by the model for the given source.' },
    { type: 'frames.consumed', description: 'The driver consumed `n` frames from the ring.' },
    { type: 'recheck.found', description: 'The re-check after unmasking found frames; the driver keeps polling.' },
  ],
});
