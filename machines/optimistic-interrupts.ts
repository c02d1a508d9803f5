/**
 * Optimistic interrupts for one device-assigned vNIC: early virtual interrupts (EVI) and
 * end-of-coalescing (EoC) handling, as the VNET/P+ event dispatcher decides them.
 *
 * Sources: dissertation §4.3 (two windows for a virtual interrupt), §4.3.1 (EVI: inject when the
 * host driver identifies an arrival, before any data moves; discard it if the guest has the line
 * masked), §4.3.2 (EoC: after a failed EVI always inject, even if delivery waits for the unmask;
 * otherwise inject only if the receive density RD since the last EVI lies in [alpha, beta]),
 * §4.3.3 (the interaction: masked EVIs are coalesced into the EoC interrupt), §5.2 (device
 * allocator and event dispatcher route EVI and EoC to the vNIC).
 *
 * The VMM knows the guest's mask bit (it emulates the virtual interrupt controller), so each
 * event carries it as `guestMasked`, read at the moment of the decision. Every host arrival is
 * an EVI attempt. The machine emits its decisions as effects; the system model delivers an
 * injection to `guest-interrupts` as `virq.raise` (`discardIfMasked` for an EVI, not for an EoC).
 * A premature EVI (its handler runs before the data lands, §4.3.1 case 2) is invisible here: the
 * guest side counts it (`guest-interrupts` emits `handler.premature`).
 */
import { assign, enqueueActions, setup, stateIn, type SnapshotFrom } from 'xstate';
import { defineEntry, type Invariant, type Witness } from './catalog-entry.js';
import { checkParams, InputError, type ParamsOf } from './params.js';

/** 10 Gbps Ethernet line rate in bytes per second: the scale alpha and beta are chosen on. */
export const LINE_RATE_10G = 1_250_000_000;

export const params = {
  alpha: {
    kind: 'number',
    default: 12_500_000,
    min: 1,
    max: 1e12,
    integer: true,
    unit: 'bytes/s',
    description:
      'Lower bound of the "just right" receive density. Below it an EoC is "too cold": the traffic since the last EVI was sparse enough that the ' +
      'guest has probably already taken it. The dissertation determines alpha experimentally and gives no value; the default is 1% of the ' +
      '10 Gbps line rate (12.5 MB/s): a lone ping (64 bytes) that the host finishes within 5 us is cold, a 9000-byte frame is not unless its ' +
      'EoC comes more than 720 us after the arrival. Must be below beta.',
    source: '§4.3.2 ("too cold"; "experimentally determined")',
  },
  beta: {
    kind: 'number',
    default: 1_125_000_000,
    min: 1,
    max: 1e12,
    integer: true,
    unit: 'bytes/s',
    description:
      'Upper bound of the "just right" receive density. Above it an EoC is "too hot": the host is receiving near line rate, so another host ' +
      'interrupt, and with it an EVI, is due within a coalescing period. The default is 90% of the 10 Gbps line rate (1.125 GB/s): a ' +
      'coalesced 64 KB batch the host empties within 58 us is hot, a single 9000-byte frame is hot only if its EoC comes within 8 us. ' +
      'Sweep both against the host NIC coalescing settings.',
    source: '§4.3.2 ("too hot"; "experimentally determined")',
  },
  prematureFeedback: {
    kind: 'boolean',
    default: true,
    description:
      'The VMM learns that the handler of the last EVI ran before its data landed (the guest\'s read of the virtio ISR register traps, and the ' +
      'ring had nothing for it: `guest.premature`) and counts that EVI as failed, so the next EoC injects. false = the dissertation as written, ' +
      'where only a masked EVI fails: a premature EVI whose EoC is too cold or too hot strands its frame until the next arrival.',
    source: '§4.3.1 case 2; §4.3.2 ("based on the success or failure of the last EVI attempt")',
  },
  ringCheck: {
    kind: 'boolean',
    default: true,
    description:
      'At an EoC the VMM, which emulates the vNIC, reads its receive ring: if frames wait there and the guest is neither in its handler nor ' +
      'polling (`ringPending` on the EoC), it injects whatever the receive density, since that is the very case the EoC guards against ' +
      '(the guest stopped processing, packets wait, no host interrupt is due). false = the dissertation as written: RD alone decides, and ' +
      'frames that land after the guest\'s last poll under a cold or hot EoC wait for the next arrival.',
    source: '§4.3.2 ("the specific case which EoC notification must guard against is when the guest has already stopped processing its receive queue")',
  },
} as const;

export type Params = ParamsOf<typeof params>;
export type Input = Partial<Params>;

/** Returns complete parameters or throws an `InputError` naming the field (alpha < beta is required). */
export function checkInput(input: unknown): Params {
  const p = checkParams('optimistic-interrupts', params, input);
  if (!(p.alpha < p.beta)) throw new InputError('optimistic-interrupts', 'beta', p.beta, `a density above alpha (${p.alpha} bytes/s)`);
  return p;
}

/** Receive density in bytes per second of `bytes` over `elapsedNs`; no time elapsed counts as infinitely dense. */
export function receiveDensity(bytes: number, elapsedNs: number): number {
  if (bytes <= 0) return 0;
  return elapsedNs > 0 ? (bytes * 1e9) / elapsedNs : Number.POSITIVE_INFINITY;
}

export type Density = 'cold' | 'right' | 'hot';

/** Where a density falls against [alpha, beta] (§4.3.2's three cases). */
export function classify(p: Params, rd: number): Density {
  return rd < p.alpha ? 'cold' : rd > p.beta ? 'hot' : 'right';
}

export interface Stats {
  eviAttempted: number;
  eviInjected: number;
  eviMasked: number;
  eocInjectedAfterFailure: number;
  eocInjectedJustRight: number;
  eocCold: number;
  eocHot: number;
  eocQuiet: number;
  /** EoCs injected because frames waited in the ring with the guest idle (ringCheck). */
  eocInjectedRingPending: number;
  /** EVIs the guest reported premature (counted only with prematureFeedback). */
  eviPremature: number;
}

/** What the last host arrival was, recorded from the event whatever the decision. */
export interface ArrivalRecord {
  readonly now: number;
  readonly bytes: number;
  readonly guestMasked: boolean;
  /** Set by the injecting action only. */
  readonly injected: boolean;
}

/** What the last EoC saw and did, recorded from the events whatever the decision. */
export interface EocRecord {
  /** The last arrival's EVI found the line masked and no EoC has come since. */
  readonly afterMaskedEvi: boolean;
  /** The guest reported the last EVI's handler premature (with prematureFeedback) and no EoC has come since. */
  readonly afterPrematureEvi: boolean;
  /** The EoC found frames waiting in the vNIC ring with the guest idle (counted only with ringCheck). */
  readonly ringPending: boolean;
  /** Bytes and time since the last arrival (null when there was none). */
  readonly bytes: number | null;
  readonly elapsedNs: number | null;
  /** Set by the injecting actions only. */
  readonly injected: boolean;
}

export interface Context {
  readonly p: Params;
  /** Time of the last EVI attempt (every host arrival is one), ns; null before the first. */
  eviAt: number | null;
  /** Bytes received since the last EVI attempt: the batch the last arrival announced. */
  bytesSinceEvi: number;
  /** Latest `now` seen; an earlier-stamped event counts as happening then, so elapsed time is never negative. */
  lastNow: number;
  /** Ghost: the last arrival, as the event gave it. */
  lastArrival: ArrivalRecord | null;
  /** Ghost: an EVI found the line masked and no EoC has been handled since. */
  maskedEviOwed: boolean;
  /** Ghost: a premature handler run was reported for the last EVI and no EoC has been handled since. */
  prematureEviOwed: boolean;
  /** Ghost: the last EoC's inputs and outcome. */
  lastEoc: EocRecord | null;
  stats: Stats;
}

export type Event =
  /** The host NIC driver identifies a data arrival for this vNIC (a host interrupt) announcing `bytes`. */
  | { type: 'host.arrival'; now: number; bytes: number; guestMasked: boolean }
  /**
   * End of coalescing: the host NIC has emptied its packet queue. `guestMasked` is only reported on
   * `eoc.injected` (whether delivery waits for the unmask): every EoC interrupt is held, never discarded.
   */
  | { type: 'host.eoc'; now: number; guestMasked: boolean; bytes?: number; ringPending?: boolean }
  /** The handler of the last EVI ran and found the receive ring empty (the VMM traps its ISR read): §4.3.1 case 2. */
  | { type: 'guest.premature'; now: number };

export type Emitted =
  | { type: 'evi.attempted'; now: number; bytes: number }
  /** The EVI found the guest's line masked and was discarded (§4.3.1 case 1). */
  | { type: 'evi.masked'; now: number }
  /** Inject a virtual interrupt into the vNIC: an EVI (dropped by a masked line) or an EoC one (held until unmask). */
  | { type: 'virq.inject'; now: number; kind: 'evi' | 'eoc'; deferUntilUnmask: boolean }
  | { type: 'eoc.injected'; now: number; reason: 'after-failed-evi' | 'just-right' | 'ring-pending'; rd: number | null; guestMasked: boolean }
  | { type: 'eoc.cold'; now: number; rd: number }
  | { type: 'eoc.hot'; now: number; rd: number }
  /** An EoC with no arrival since the last interrupt that covered everything: nothing to announce. */
  | { type: 'eoc.quiet'; now: number };

const zeroStats = (): Stats => ({
  eviAttempted: 0,
  eviInjected: 0,
  eviMasked: 0,
  eocInjectedAfterFailure: 0,
  eocInjectedJustRight: 0,
  eocCold: 0,
  eocHot: 0,
  eocQuiet: 0,
  eocInjectedRingPending: 0,
  eviPremature: 0,
});

/** The initial context for complete parameters. */
export function initialContext(p: Params): Context {
  return { p, eviAt: null, bytesSinceEvi: 0, lastNow: 0, lastArrival: null, maskedEviOwed: false, prematureEviOwed: false, lastEoc: null, stats: zeroStats() };
}

const effectiveNow = (c: Context, now: number) => Math.max(c.lastNow, now);

/** RD of the traffic since the last EVI, as an EoC at `now` sees it (`runBytes`: what the EoC reports the host took in its run). */
export function densityAt(c: Context, now: number, runBytes = 0): number {
  if (c.eviAt === null) return 0;
  return receiveDensity(Math.max(c.bytesSinceEvi, runBytes), effectiveNow(c, now) - c.eviAt);
}

/** Bytes an EoC event reports (0 when it reports none, or for another event). */
const eocBytes = (e: Event): number => (e.type === 'host.eoc' && typeof e.bytes === 'number' && Number.isFinite(e.bytes) && e.bytes > 0 ? e.bytes : 0);

const src = (source: string) => ({ source });

export const optimisticInterruptsMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as Input | undefined,
    emitted: {} as Emitted,
    meta: {} as { source: string },
  },
  guards: {
    /** The VMM reads the guest's virtual interrupt state: the vNIC line is masked. */
    guestMasked: ({ event }) => event.type !== 'guest.premature' && event.guestMasked,
    /** The last EVI attempt was discarded on a masked line and no EoC has made up for it. */
    lastEviFailed: stateIn({ eviAttempted: 'lastEviFailed' }),
    prematureFeedback: ({ context }) => context.p.prematureFeedback,
    ringPending: ({ context, event }) => context.p.ringCheck && event.type === 'host.eoc' && event.ringPending === true,
    rdTooCold: ({ context, event }) => classify(context.p, densityAt(context, event.now, eocBytes(event))) === 'cold',
    rdTooHot: ({ context, event }) => classify(context.p, densityAt(context, event.now, eocBytes(event))) === 'hot',
  },
  actions: {
    /** Opens a new RD window at this arrival and records the decision inputs (ghost). */
    recordArrival: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'host.arrival') return;
      const now = effectiveNow(context, event.now);
      enqueue.assign({
        eviAt: now,
        bytesSinceEvi: event.bytes,
        lastNow: now,
        lastArrival: { now, bytes: event.bytes, guestMasked: event.guestMasked, injected: false },
        maskedEviOwed: event.guestMasked,
        prematureEviOwed: false,
        stats: { ...context.stats, eviAttempted: context.stats.eviAttempted + 1 },
      });
      enqueue.emit({ type: 'evi.attempted', now, bytes: event.bytes });
    }),
    injectEvi: enqueueActions(({ context, enqueue }) => {
      const now = context.lastNow;
      enqueue.assign({
        lastArrival: context.lastArrival && { ...context.lastArrival, injected: true },
        stats: { ...context.stats, eviInjected: context.stats.eviInjected + 1 },
      });
      enqueue.emit({ type: 'virq.inject', now, kind: 'evi', deferUntilUnmask: false });
    }),
    /** The last EVI's handler found nothing: that EVI failed (ghost: an EoC interrupt is owed). */
    notePremature: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'guest.premature') return;
      enqueue.assign({ lastNow: effectiveNow(context, event.now), prematureEviOwed: true, stats: { ...context.stats, eviPremature: context.stats.eviPremature + 1 } });
    }),
    discardEvi: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ stats: { ...context.stats, eviMasked: context.stats.eviMasked + 1 } });
      enqueue.emit({ type: 'evi.masked', now: context.lastNow });
    }),
    /** Records what the EoC sees (ghost), independently of the decision. */
    recordEoc: assign(({ context, event }) => {
      const now = effectiveNow(context, event.now);
      const a = context.lastArrival;
      return {
        lastNow: now,
        maskedEviOwed: false,
        prematureEviOwed: false,
        lastEoc: {
          afterMaskedEvi: context.maskedEviOwed,
          afterPrematureEvi: context.prematureEviOwed,
          ringPending: context.p.ringCheck && event.type === 'host.eoc' && event.ringPending === true,
          bytes: a ? Math.max(a.bytes, eocBytes(event)) : null,
          elapsedNs: a ? now - a.now : null,
          injected: false,
        },
      };
    }),
    injectRecovery: enqueueActions(({ context, event, enqueue }) => {
      enqueue.assign({
        lastEoc: context.lastEoc && { ...context.lastEoc, injected: true },
        stats: { ...context.stats, eocInjectedAfterFailure: context.stats.eocInjectedAfterFailure + 1 },
      });
      enqueue.emit({ type: 'virq.inject', now: context.lastNow, kind: 'eoc', deferUntilUnmask: true });
      enqueue.emit({
        type: 'eoc.injected',
        now: context.lastNow,
        reason: 'after-failed-evi',
        rd: context.eviAt === null ? null : densityAt(context, context.lastNow, eocBytes(event)),
        guestMasked: event.type !== 'guest.premature' && event.guestMasked,
      });
    }),
    injectRingPending: enqueueActions(({ context, event, enqueue }) => {
      enqueue.assign({
        lastEoc: context.lastEoc && { ...context.lastEoc, injected: true },
        stats: { ...context.stats, eocInjectedRingPending: context.stats.eocInjectedRingPending + 1 },
      });
      enqueue.emit({ type: 'virq.inject', now: context.lastNow, kind: 'eoc', deferUntilUnmask: true });
      enqueue.emit({
        type: 'eoc.injected',
        now: context.lastNow,
        reason: 'ring-pending',
        rd: densityAt(context, context.lastNow, eocBytes(event)),
        guestMasked: event.type !== 'guest.premature' && event.guestMasked,
      });
    }),
    injectJustRight: enqueueActions(({ context, event, enqueue }) => {
      enqueue.assign({
        lastEoc: context.lastEoc && { ...context.lastEoc, injected: true },
        stats: { ...context.stats, eocInjectedJustRight: context.stats.eocInjectedJustRight + 1 },
      });
      enqueue.emit({ type: 'virq.inject', now: context.lastNow, kind: 'eoc', deferUntilUnmask: true });
      enqueue.emit({
        type: 'eoc.injected',
        now: context.lastNow,
        reason: 'just-right',
        rd: densityAt(context, context.lastNow, eocBytes(event)),
        guestMasked: event.type !== 'guest.premature' && event.guestMasked,
      });
    }),
    discardCold: enqueueActions(({ context, event, enqueue }) => {
      enqueue.assign({ stats: { ...context.stats, eocCold: context.stats.eocCold + 1 } });
      enqueue.emit({ type: 'eoc.cold', now: context.lastNow, rd: densityAt(context, context.lastNow, eocBytes(event)) });
    }),
    discardHot: enqueueActions(({ context, event, enqueue }) => {
      enqueue.assign({ stats: { ...context.stats, eocHot: context.stats.eocHot + 1 } });
      enqueue.emit({ type: 'eoc.hot', now: context.lastNow, rd: densityAt(context, context.lastNow, eocBytes(event)) });
    }),
    noteQuietEoc: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ stats: { ...context.stats, eocQuiet: context.stats.eocQuiet + 1 } });
      enqueue.emit({ type: 'eoc.quiet', now: context.lastNow });
    }),
  },
}).createMachine({
  id: 'optimistic-interrupts',
  description:
    'EVI and EoC decisions for one device-assigned vNIC. Choices the dissertation leaves open: every host arrival is an EVI attempt and opens ' +
    'the RD window (bytes it announces over the time to the EoC; RD is consulted only when that attempt was injected, so this is "since the ' +
    'last EVI injection"); zero elapsed time counts as infinitely dense (hot); every EoC interrupt is held until unmask, not discarded; after an ' +
    'EoC interrupt, further EoCs before the next arrival announce nothing; after a cold or hot EoC the window stays open, so a later EoC with ' +
    'the density fallen into [alpha, beta] injects (the end of a stream).',
  meta: src('§4.3; §4.3.1; §4.3.2; §4.3.3; §5.2'),
  context: ({ input }) => initialContext(checkInput(input)),
  initial: 'noEviYet',
  on: {
    'host.arrival': [
      {
        guard: 'guestMasked',
        target: '.eviAttempted.lastEviFailed',
        actions: ['recordArrival', 'discardEvi'],
        description: 'The guest has the vNIC line masked: discard the EVI rather than defer it (implicit coalescing) and remember that it failed.',
        meta: src('§4.3.1 case 1; §4.3.3'),
      },
      {
        target: '.eviAttempted.lastEviSucceeded',
        actions: ['recordArrival', 'injectEvi'],
        description: 'Inject an early virtual interrupt now, before the data is moved, so that guest interrupt handling overlaps the data movement.',
        meta: src('§4.3.1'),
      },
    ],
  },
  states: {
    noEviYet: {
      description: 'No host arrival yet: nothing has been received, so there is nothing to announce.',
      meta: src('§4.3.2'),
      on: {
        'host.eoc': {
          actions: ['recordEoc', 'noteQuietEoc'],
          description: 'An EoC before any arrival announces nothing: no interrupt.',
          meta: src('§4.3.2'),
        },
      },
    },
    eviAttempted: {
      description: 'An arrival has been seen since the last EoC interrupt; the next EoC decides by the last EVI attempt and the receive density since it.',
      meta: src('§4.3.2'),
      initial: 'lastEviSucceeded',
      on: {
        'host.eoc': [
          {
            guard: 'lastEviFailed',
            target: 'eocCovered',
            actions: ['recordEoc', 'injectRecovery'],
            description: 'The last EVI failed (masked line, or a premature handler): always inject, held until the guest unmasks, and clear the failure.',
            meta: src('§4.3.2 ("always results in the injection of a virtual interrupt")'),
          },
          {
            guard: 'ringPending',
            target: 'eocCovered',
            actions: ['recordEoc', 'injectRingPending'],
            description: 'Frames wait in the vNIC ring and the guest is idle (the VMM reads its own device): inject, held until unmask, whatever RD.',
            meta: src('§4.3.2 (the case EoC must guard against); vNIC ring state read by the VMM'),
          },
          {
            guard: 'rdTooCold',
            actions: ['recordEoc', 'discardCold'],
            description: 'Too cold (RD < alpha): the sparse traffic has probably been taken by the guest already: no interrupt.',
            meta: src('§4.3.2 case 1'),
          },
          {
            guard: 'rdTooHot',
            actions: ['recordEoc', 'discardHot'],
            description: 'Too hot (RD > beta): in the middle of heavy traffic, EVIs are driving the transfer: no interrupt.',
            meta: src('§4.3.2 case 2'),
          },
          {
            target: 'eocCovered',
            actions: ['recordEoc', 'injectJustRight'],
            description: 'Just right (alpha <= RD <= beta): the guest may not have taken it all and no EVI is due soon: inject, held until unmask.',
            meta: src('§4.3.2 case 3'),
          },
        ],
      },
      states: {
        lastEviSucceeded: {
          description: 'The last EVI was injected into an unmasked line.',
          meta: src('§4.3.1; §4.3.2'),
          on: {
            'guest.premature': {
              guard: 'prematureFeedback',
              target: 'lastEviFailed',
              actions: ['notePremature'],
              description: 'The EVI\'s handler ran before its data landed and found nothing (its ISR read traps): the EVI failed, the next EoC makes up for it.',
              meta: src('§4.3.1 case 2; §4.3.2 ("success or failure of the last EVI attempt")'),
            },
          },
        },
        lastEviFailed: {
          description: 'The last EVI found the line masked and was discarded, or its handler ran premature; the next EoC must make up for it.',
          meta: src('§4.3.1 case 1; §4.3.2'),
        },
      },
    },
    eocCovered: {
      description: 'An EoC interrupt has been injected and covers everything received so far; no arrival since.',
      meta: src('§4.3.2; §4.3.3'),
      on: {
        'host.eoc': [
          {
            guard: 'ringPending',
            target: 'eocCovered',
            reenter: true,
            actions: ['recordEoc', 'injectRingPending'],
            description: 'Frames still wait in the vNIC ring with the guest idle (they landed after its last poll): inject again, held until unmask.',
            meta: src('§4.3.2 (the case EoC must guard against); vNIC ring state read by the VMM'),
          },
          {
            actions: ['recordEoc', 'noteQuietEoc'],
            description: 'No arrival since the last EoC interrupt: nothing new to announce, no interrupt.',
            meta: src('§4.3.3 (implicit coalescing)'),
          },
        ],
      },
    },
  },
});

export type OptimisticInterruptsMachine = typeof optimisticInterruptsMachine;

// ---- catalog entry -----------------------------------------------------------------------------

type Snap = SnapshotFrom<OptimisticInterruptsMachine>;

/** RD recomputed from the ghost record, for the invariants (not through the machine's guards). */
function ghostDensity(e: EocRecord): number | null {
  if (e.bytes === null || e.elapsedNs === null) return null;
  if (e.bytes <= 0) return 0;
  // Same arithmetic as bytes/s everywhere, so that a density exactly at alpha or beta compares alike.
  return e.elapsedNs > 0 ? (e.bytes * 1e9) / e.elapsedNs : Number.POSITIVE_INFINITY;
}

/** Safety properties of the EVI/EoC decisions, over ghost records of their inputs. */
export const invariants: readonly Invariant<Snap>[] = [
  {
    name: 'evi-never-into-masked-line',
    description: 'An EVI is never injected while the guest has the vNIC line masked: it is discarded instead.',
    source: '§4.3.1 case 1',
    check: (s) => {
      const a = s.context.lastArrival;
      return a && a.injected && a.guestMasked ? `an EVI was injected at ${a.now} ns although the guest had the line masked` : undefined;
    },
    witness: {
      name: 'evi-masked',
      description: 'An EVI sometimes finds the line masked and is discarded.',
      reached: (s) => s.context.lastArrival?.guestMasked === true && !s.context.lastArrival.injected,
    },
  },
  {
    name: 'eoc-injects-after-masked-evi',
    description: 'After an EVI discarded on a masked line, the next EoC injects a virtual interrupt, whatever the receive density.',
    source: '§4.3.2',
    check: (s) => {
      const e = s.context.lastEoc;
      return e && e.afterMaskedEvi && !e.injected ? 'an EoC following a masked EVI did not inject' : undefined;
    },
    witness: {
      name: 'eoc-injects-after-failed-evi',
      description: 'An EoC sometimes injects to make up for a masked EVI.',
      reached: (s) => s.context.lastEoc?.afterMaskedEvi === true && s.context.lastEoc.injected,
    },
  },
  {
    name: 'eoc-injects-after-premature-evi',
    description: 'After the guest reported the last EVI premature (prematureFeedback), the next EoC injects a virtual interrupt, whatever the receive density.',
    source: '§4.3.1 case 2; §4.3.2',
    check: (s) => {
      const e = s.context.lastEoc;
      return e && e.afterPrematureEvi && !e.injected ? 'an EoC following a premature EVI did not inject' : undefined;
    },
    witness: {
      name: 'eoc-injects-after-premature-evi',
      description: 'An EoC sometimes injects to make up for a premature EVI.',
      reached: (s) => s.context.lastEoc?.afterPrematureEvi === true && s.context.lastEoc.injected,
    },
  },
  {
    name: 'eoc-injects-when-ring-waits',
    description: 'With ringCheck, an EoC (after an arrival) that finds frames waiting in the ring with the guest idle injects a virtual interrupt.',
    source: '§4.3.2',
    check: (s) => {
      const e = s.context.lastEoc;
      return e && e.ringPending && e.bytes !== null && !e.injected ? 'an EoC found frames waiting with the guest idle and did not inject' : undefined;
    },
    witness: {
      name: 'eoc-injects-ring-pending',
      description: 'An EoC sometimes injects because frames wait in the ring.',
      reached: (s) => s.context.lastEoc?.ringPending === true && s.context.lastEoc.injected,
    },
  },
  {
    name: 'eoc-injects-only-in-band',
    description:
      'Unless the last EVI failed, an EoC injects only when the receive density since the last EVI lies in [alpha, beta] (never too cold, never too hot, never with no arrival).',
    source: '§4.3.2 cases 1-3',
    check: (s) => {
      const e = s.context.lastEoc;
      if (!e || !e.injected || e.afterMaskedEvi || e.afterPrematureEvi || e.ringPending) return undefined;
      const rd = ghostDensity(e);
      const { alpha, beta } = s.context.p;
      if (rd === null) return 'an EoC injected although nothing had arrived';
      if (rd < alpha || rd > beta) return `an EoC injected at RD ${rd} bytes/s, outside [${alpha}, ${beta}]`;
      return undefined;
    },
    witness: {
      name: 'eoc-injects-just-right',
      description: 'An EoC sometimes injects because the density is just right.',
      reached: (s) => s.context.lastEoc?.injected === true && !s.context.lastEoc.afterMaskedEvi,
    },
  },
];

/** "Sometimes" conditions beyond the invariants' own. */
export const witnesses: readonly Witness<Snap>[] = [
  { name: 'evi-injected', description: 'An EVI is sometimes injected.', reached: (s) => s.context.stats.eviInjected > 0 },
  { name: 'eoc-cold', description: 'An EoC is sometimes discarded as too cold.', reached: (s) => s.context.stats.eocCold > 0 },
  { name: 'eoc-hot', description: 'An EoC is sometimes discarded as too hot.', reached: (s) => s.context.stats.eocHot > 0 },
  {
    name: 'hot-then-just-right',
    description: 'An EoC sometimes injects with the density just right after an earlier EoC was too hot (the end of a stream).',
    reached: (s) => s.context.stats.eocHot > 0 && s.value === 'eocCovered' && s.context.lastEoc?.afterMaskedEvi === false && !s.context.lastEoc.afterPrematureEvi,
  },
];

/** Arrival size the alphabet uses: one 9000-byte jumbo frame (§4.3.3's example MTU). */
const ARRIVAL_BYTES = 9000;

/**
 * The exploration alphabet: arrivals on a masked or unmasked line, and EoCs at the latest time seen
 * or at the first time the density since the last EVI falls to the middle of [alpha, beta] or to
 * half alpha. Times never go backwards, so the density only falls.
 */
export function explorationEvents(s: Snap): Event[] {
  const c = s.context;
  const t = c.lastNow;
  const ev: Event[] = [
    { type: 'host.arrival', now: t + 1000, bytes: ARRIVAL_BYTES, guestMasked: false },
    { type: 'host.arrival', now: t + 1000, bytes: ARRIVAL_BYTES, guestMasked: true },
  ];
  if (c.eviAt !== null) ev.push({ type: 'guest.premature', now: t });
  const times = [t];
  if (c.eviAt !== null) {
    const mid = Math.sqrt(c.p.alpha * c.p.beta);
    for (const rd of [mid, c.p.alpha / 2]) {
      const at = c.eviAt + Math.ceil((c.bytesSinceEvi * 1e9) / rd);
      if (at > t) times.push(at);
    }
  }
  for (const now of times) {
    ev.push({ type: 'host.eoc', now, guestMasked: false }, { type: 'host.eoc', now, guestMasked: true });
  }
  ev.push({ type: 'host.eoc', now: t, guestMasked: false, ringPending: true });
  return ev;
}

/** A finite key: the state, where the density stands now (what an EoC at once would see), and the ghost records' verdicts. */
export function serializeState(s: Snap): string {
  const c = s.context;
  const now = c.eviAt === null ? 'none' : classify(c.p, densityAt(c, c.lastNow));
  const a = c.lastArrival;
  const e = c.lastEoc;
  const eRd = e ? ghostDensity(e) : null;
  return JSON.stringify([
    s.value,
    now,
    a ? [a.guestMasked, a.injected] : null,
    c.maskedEviOwed,
    c.prematureEviOwed,
    e ? [e.afterMaskedEvi, e.afterPrematureEvi, e.ringPending, e.injected, eRd === null ? null : classify(c.p, eRd)] : null,
  ]);
}

export const entry = defineEntry({
  id: 'optimistic-interrupts',
  title: 'Optimistic interrupts: early virtual interrupts (EVI) and end-of-coalescing (EoC) handling',
  summary:
    'For one device-assigned vNIC, the VMM may inject a virtual interrupt in two windows (§4.3). When the host NIC driver identifies an ' +
    'arrival it tries an early virtual interrupt (EVI) before any data moves: if the guest has the line masked (the VMM reads its virtual ' +
    'interrupt state, carried on the event as guestMasked) the EVI is discarded and remembered as failed, else injected. When the host NIC ' +
    'has emptied its queue it sends an end-of-coalescing notification (EoC): after a failed EVI it always injects (held until the guest ' +
    'unmasks) and clears the failure; otherwise it computes the receive density RD, bytes announced by the last arrival over the time since ' +
    'it, and injects only if alpha <= RD <= beta, discarding "too cold" and "too hot" EoCs. alpha and beta are inputs (defaults 1% and 90% of ' +
    'the 10 Gbps line rate; the dissertation gives no values). Choices made here: every arrival is an EVI attempt and opens the RD window; ' +
    'zero elapsed time is infinitely hot; an EoC interrupt is never discarded; after one, EoCs announce nothing until the next arrival; a ' +
    'cold or hot EoC leaves the window open. A premature EVI (its handler ran before its data landed and found nothing, §4.3.1 case 2) is ' +
    'reported by the guest side (`guest.premature`: the VMM traps the handler\'s ISR read) and, with prematureFeedback (default), counts as ' +
    'a failed EVI, so the next EoC injects. With ringCheck (default) an EoC that finds frames waiting in the vNIC ring with the guest idle ' +
    'injects whatever RD. Without both (the dissertation as written) a premature EVI, or frames landing after the guest\'s last poll, is ' +
    'not made good when the EoC density is out of band: the frames wait for the next arrival, which a test pins.',
  source: ['§4.3', '§4.3.1', '§4.3.2', '§4.3.3', '§5.2'],
  machine: optimisticInterruptsMachine,
  params,
  checkInput,
  samples: [
    { name: 'line-rate-defaults', input: {} },
    { name: 'narrow-band', input: { alpha: 100_000_000, beta: 200_000_000 } },
  ],
  invariants,
  witnesses,
  events: explorationEvents,
  serializeState,
  accepts: [
    { type: 'host.arrival', description: 'The host NIC driver identifies a data arrival for this vNIC (`bytes` announced; `guestMasked` as the VMM reads it).' },
    { type: 'host.eoc', description: 'End of coalescing: the host NIC emptied its packet queue (`guestMasked` is only reported on `eoc.injected`; `bytes`: what the host took from the NIC since the last arrival, counted in RD; `ringPending`: frames wait in the vNIC ring and the guest is idle).' },
    { type: 'guest.premature', description: 'The handler of the last EVI found the receive ring empty (reported by the VMM trapping its ISR read).' },
  ],
  emits: [
    { type: 'evi.attempted', description: 'Counter: an EVI was attempted for an arrival.' },
    { type: 'evi.masked', description: 'Counter: the EVI found the line masked and was discarded.' },
    { type: 'virq.inject', description: 'Inject a virtual interrupt: kind `evi` (dropped by a masked line) or `eoc` (deferUntilUnmask).' },
    { type: 'eoc.injected', description: 'Counter: an EoC injected, after a failed EVI or because RD was just right.' },
    { type: 'eoc.cold', description: 'Counter: an EoC was discarded as too cold (RD < alpha).' },
    { type: 'eoc.hot', description: 'Counter: an EoC was discarded as too hot (RD > beta).' },
    { type: 'eoc.quiet', description: 'Counter: an EoC with no arrival since the last EoC interrupt (or ever) announced nothing.' },
  ],
});
