/**
 * Properties of optimistic interrupts (§4.3), stated from outside the machine.
 *
 * - Three step monitors over arrival trains (sizes from a ping to a coalesced 64 KB batch, gaps
 *   from 0 to milliseconds, the guest's line masked or not): each recomputes what §4.3.1-§4.3.2
 *   demand from the events it has seen (the last arrival's bytes, time and mask; whether an EoC has
 *   come since) and compares with the injections emitted.
 * - No lost wakeup, composing the machine with `guest-interrupts` by hand: EVI injections become
 *   `virq.raise` with `discardIfMasked`, EoC injections without it; each arrival's frames land in
 *   the vNIC ring some steps later; the guest masks, polls and unmasks at arbitrary points. Once
 *   arrivals stop and a final EoC is delivered, every frame that landed must be consumed with no
 *   further arrival.
 */
import fc from 'fast-check';
import { createActor, type AnyStateMachine } from 'xstate';
import type { AnyCatalogEntry } from '../machines/catalog-entry.js';
import { guestInterruptsMachine, type Emitted as GuestEmitted, type Context as GuestContext } from '../machines/guest-interrupts.js';
import {
  entry,
  type Context,
  type Emitted,
  type Event,
  type Input,
} from '../machines/optimistic-interrupts.js';
import type { RandomStep } from '../model/explore.js';
import { stepsProperty, type MachineProperty } from './harness.js';
import { perRun } from './guest-interrupts.props.js';

const emittedOf = (step: RandomStep) => step.emitted as readonly Emitted[];
const eventOf = (step: RandomStep) => step.event as Event;
const injected = (step: RandomStep, kind: 'evi' | 'eoc') => emittedOf(step).some((x) => x.type === 'virq.inject' && x.kind === kind);

// ---- arrival trains for the step monitors -----------------------------------------------------

const TRAIN_BYTES = [64, 1500, 9000, 65536] as const;
const TRAIN_GAPS_NS = [0, 700, 9_000, 80_000, 1_500_000] as const;

/** A richer alphabet than the catalog's: arrivals of four sizes and EoCs, at five gaps, masked or not. */
function trainEvents(s: { context: Context }): Event[] {
  const t = s.context.lastNow;
  const ev: Event[] = [];
  for (const gap of TRAIN_GAPS_NS) {
    for (const guestMasked of [false, true]) {
      for (const bytes of TRAIN_BYTES) ev.push({ type: 'host.arrival', now: t + gap, bytes, guestMasked });
      ev.push({ type: 'host.eoc', now: t + gap, guestMasked });
    }
  }
  return ev;
}

const trains: AnyCatalogEntry = {
  ...(entry as unknown as AnyCatalogEntry),
  events: trainEvents as never,
  samples: [...entry.samples, { name: 'wide-band', input: { alpha: 1_000, beta: 100_000_000_000 } }],
};

/** What the monitors remember of a run: the last arrival and whether a masked EVI still awaits its EoC. */
interface Seen {
  arrival: { now: number; bytes: number } | null;
  owed: boolean;
  lastNow: number;
}
const fresh = (): Seen => ({ arrival: null, owed: false, lastNow: 0 });

/** Feeds an event to the monitor's memory; returns the event's effective time (never before the last one). */
function observe(m: Seen, ev: Event): number {
  const now = Math.max(m.lastNow, ev.now);
  m.lastNow = now;
  if (ev.type === 'host.arrival') {
    m.arrival = { now, bytes: ev.bytes };
    m.owed = ev.guestMasked;
  }
  return now;
}

// ---- the composition with the guest -----------------------------------------------------------

/** One step of the composed scenario. */
export type Command =
  | { readonly k: 'arrival'; readonly gapNs: number; readonly bytes: number }
  /** The oldest arrival's frames land in the vNIC receive ring. */
  | { readonly k: 'fill' }
  | { readonly k: 'handler' }
  | { readonly k: 'process'; readonly budget: number }
  | { readonly k: 'done' }
  /** The driver polls the ring empty and finishes (a whole NAPI round). */
  | { readonly k: 'drain' }
  | { readonly k: 'eoc'; readonly gapNs: number };

export interface Scenario {
  readonly input: Input;
  readonly maskInService: boolean;
  readonly commands: readonly Command[];
  /** Guest steps after the last arrival, while its data is still being moved (that takes the VMM about 20M cycles, §4.3.1). */
  readonly tail: readonly Command[];
  /** Time from the last command to the final EoC. */
  readonly finalGapNs: number;
}

export interface ComposedOutcome {
  /** Frames left in the ring once the guest has nothing more to do. */
  readonly stranded: number;
  readonly placed: number;
  readonly consumed: number;
  readonly premature: number;
  /** Fills that landed on an idle guest (unmasked, nothing in service or pending): only the VMM can announce them. */
  readonly idleLandings: number;
  /** EoC interrupts injected because the last EVI had failed (masked, or reported premature). */
  readonly recoveries: number;
  /** EoC interrupts injected because frames waited in the ring with the guest idle (ringCheck). */
  readonly ringRecoveries: number;
  /** What happened, one line per step, for a counterexample. */
  readonly log: readonly string[];
}

const MTU = 9000;
const framesOf = (bytes: number) => Math.max(1, Math.ceil(bytes / MTU));

/**
 * Runs a scenario through `oiMachine` and the guest. Each arrival's frames land at a later `fill`
 * (or at the next EoC: the host NIC reports the end of coalescing only once it has emptied its
 * queue, i.e. the data has been moved). Unless `earlyHandler`, the guest's handler does not run
 * while an arrival's data is still being moved (the EVI is never early, §4.3.1 case 2 excluded).
 * With `vmmSees`, the VMM also reports what it can observe as the vNIC's emulator: a handler that
 * found nothing (`guest.premature`, its ISR read traps) and, on each EoC, frames waiting in the ring
 * of an idle guest (`ringPending`); the machine heeds them only with `prematureFeedback` / `ringCheck`.
 */
export function runComposed(
  oiMachine: AnyStateMachine,
  sc: Scenario,
  opts: { earlyHandler?: boolean; vmmSees?: boolean } = {},
): ComposedOutcome {
  const log: string[] = [];
  const oiOut: Emitted[] = [];
  const oi = createActor(oiMachine, { input: sc.input as never });
  oi.on('*', (x: Emitted) => {
    oiOut.push(x);
  });
  const guest = createActor(guestInterruptsMachine, { input: { maskInService: sc.maskInService } });
  let consumed = 0;
  let premature = 0;
  let prematureUnreported = 0;
  guest.on('*', (x: GuestEmitted) => {
    if (x.type === 'frames.consumed') consumed += x.n;
    if (x.type === 'handler.premature') {
      premature++;
      prematureUnreported++;
    }
    if (x.type !== 'frames.consumed') log.push(`    guest: ${x.type}${'source' in x ? ` (${x.source})` : ''}`);
  });
  oi.start();
  guest.start();
  let t = 0;
  let placed = 0;
  let idleLandings = 0;
  let recoveries = 0;
  let ringRecoveries = 0;
  const fills: number[] = [];
  const g = () => guest.getSnapshot();
  const gc = () => g().context as GuestContext;
  const check = () => {
    for (const a of [oi, guest]) {
      const s = a.getSnapshot();
      if (s.status === 'error') throw new Error(`a machine failed: ${String((s as { error?: unknown }).error)}`);
    }
  };
  const toOi = (ev: Event) => {
    oiOut.length = 0;
    oi.send(ev);
    const out = [...oiOut];
    log.push(`  t=${t} ${ev.type}${ev.type === 'host.arrival' ? ` ${ev.bytes} B` : ''} (guest masked ${'guestMasked' in ev ? ev.guestMasked : '-'}) -> ${out.map((x) => x.type).join(', ')}`);
    for (const x of out) {
      if (x.type === 'eoc.injected' && x.reason === 'after-failed-evi') recoveries++;
      if (x.type === 'eoc.injected' && x.reason === 'ring-pending') ringRecoveries++;
      if (x.type === 'virq.inject') guest.send({ type: 'virq.raise', now: t, discardIfMasked: !x.deferUntilUnmask, source: x.kind });
    }
  };
  const fill = () => {
    const n = fills.shift();
    if (n === undefined) return;
    placed += n;
    if (g().value === 'idle') idleLandings++;
    log.push(`  t=${t} ${n} frames land in the vNIC ring (guest ${String(g().value)})`);
    guest.send({ type: 'ring.filled', now: t, frames: n });
  };
  const eoc = (gapNs: number) => {
    t += gapNs;
    while (fills.length > 0) fill();
    const ringPending = opts.vmmSees === true && g().value === 'idle' && gc().ring > 0;
    toOi({ type: 'host.eoc', now: t, guestMasked: gc().masked, ...(ringPending ? { ringPending } : {}) });
  };
  const handler = () => {
    log.push(`  t=${t} guest handler runs`);
    prematureUnreported = 0;
    guest.send({ type: 'handler.run', now: t });
    // Sent after the guest's step, never from inside its listener.
    if (opts.vmmSees && prematureUnreported > 0) toOi({ type: 'guest.premature', now: t });
  };
  try {
    for (const c of [...sc.commands, ...sc.tail]) {
      switch (c.k) {
        case 'arrival':
          t += c.gapNs;
          toOi({ type: 'host.arrival', now: t, bytes: c.bytes, guestMasked: gc().masked });
          fills.push(framesOf(c.bytes));
          break;
        case 'fill':
          fill();
          break;
        case 'handler':
          if (g().value === 'inService' && (opts.earlyHandler || fills.length === 0)) handler();
          break;
        case 'process':
          if (g().value === 'processing') guest.send({ type: 'driver.process', now: t, budget: c.budget });
          break;
        case 'done':
          if (g().value === 'processing') {
            log.push(`  t=${t} guest driver done (ring ${gc().ring})`);
            guest.send({ type: 'driver.done', now: t });
          }
          break;
        case 'drain':
          if (g().value === 'processing') {
            guest.send({ type: 'driver.process', now: t, budget: gc().ring || 1 });
            log.push(`  t=${t} guest driver polls the ring empty and is done`);
            guest.send({ type: 'driver.done', now: t });
          }
          break;
        case 'eoc':
          eoc(c.gapNs);
          break;
      }
      check();
    }
    log.push('  -- arrivals stop; final EoC --');
    eoc(sc.finalGapNs);
    // The guest runs until it has nothing more to do on its own.
    for (let i = 0; i < 1000; i++) {
      const v = g().value;
      if (v === 'inService') handler();
      else if (v === 'processing') {
        guest.send({ type: 'driver.process', now: t, budget: 1_000_000 });
        guest.send({ type: 'driver.done', now: t });
      } else break;
      check();
    }
    return { stranded: gc().ring, placed, consumed, premature, idleLandings, recoveries, ringRecoveries, log };
  } finally {
    oi.stop();
    guest.stop();
  }
}

const arbGap = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 1, max: 10_000 }),
  fc.integer({ min: 10_000, max: 1_000_000 }),
  fc.integer({ min: 1_000_000, max: 50_000_000 }),
);
const arbBytes = fc.oneof(fc.constantFrom(64, 1500, 9000, 65536), fc.integer({ min: 60, max: 65536 }));
const arbCommand: fc.Arbitrary<Command> = fc.oneof(
  { arbitrary: fc.record({ k: fc.constant('arrival' as const), gapNs: arbGap, bytes: arbBytes }), weight: 3 },
  { arbitrary: fc.constant({ k: 'fill' as const }), weight: 1 },
  { arbitrary: fc.constant({ k: 'handler' as const }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('process' as const), budget: fc.integer({ min: 1, max: 4 }) }), weight: 1 },
  { arbitrary: fc.constant({ k: 'done' as const }), weight: 1 },
  { arbitrary: fc.constant({ k: 'drain' as const }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('eoc' as const), gapNs: arbGap }), weight: 1 },
);
const arbGuestStep: fc.Arbitrary<Command> = fc.oneof(
  fc.constant({ k: 'handler' as const }),
  fc.record({ k: fc.constant('process' as const), budget: fc.integer({ min: 1, max: 4 }) }),
  fc.constant({ k: 'done' as const }),
  fc.constant({ k: 'drain' as const }),
);
/** Defaults, or any alpha < beta. */
const arbInput: fc.Arbitrary<Input> = fc.oneof(
  fc.constant({}),
  fc
    .record({ alpha: fc.integer({ min: 1, max: 1_000_000_000 }), spread: fc.integer({ min: 1, max: 2_000_000_000 }) })
    .map(({ alpha, spread }) => ({ alpha, beta: alpha + spread })),
);
export const arbScenario: fc.Arbitrary<Scenario> = fc.record({
  input: arbInput,
  maskInService: fc.boolean(),
  commands: fc.array(arbCommand, { maxLength: 30, size: 'medium' }),
  tail: fc.oneof(fc.constant([{ k: 'drain' as const }]), fc.array(arbGuestStep, { maxLength: 3 })),
  finalGapNs: arbGap,
});

export const properties: readonly MachineProperty[] = [
  {
    name: 'optimistic-interrupts/evi-never-into-masked-line',
    description: 'An arrival seen with the guest line masked injects no EVI, one seen unmasked injects one, and nothing else injects an EVI.',
    runs: 300,
    property: (machine: AnyStateMachine) =>
      stepsProperty(
        trains,
        machine,
        (_before, step) => {
          const ev = eventOf(step);
          const evi = injected(step, 'evi');
          if (ev.type !== 'host.arrival') return evi ? `an EVI was injected on ${ev.type}` : undefined;
          if (ev.guestMasked && evi) return 'an EVI was injected into a masked line';
          if (!ev.guestMasked && !evi) return 'an arrival on an unmasked line injected no EVI';
          return undefined;
        },
        'optimistic-interrupts/evi-never-into-masked-line',
      ),
  },
  {
    name: 'optimistic-interrupts/eoc-injects-after-masked-evi',
    description: 'The first EoC after an arrival whose EVI found the line masked injects a virtual interrupt (held until unmask), whatever the density.',
    runs: 300,
    property: (machine: AnyStateMachine) =>
      stepsProperty(
        trains,
        machine,
        perRun(fresh, (m, _before, step) => {
          const ev = eventOf(step);
          const owed = m.owed;
          observe(m, ev);
          if (ev.type !== 'host.eoc') return undefined;
          m.owed = false;
          if (owed && !emittedOf(step).some((x) => x.type === 'virq.inject' && x.kind === 'eoc' && x.deferUntilUnmask))
            return 'the EoC after a masked EVI did not inject an interrupt held until unmask';
          return undefined;
        }),
        'optimistic-interrupts/eoc-injects-after-masked-evi',
      ),
  },
  {
    name: 'optimistic-interrupts/eoc-injects-only-in-band',
    description:
      'Unless a masked EVI awaits it, an EoC injects only if an arrival preceded it and the bytes that arrival announced, over the time since it, lie in [alpha, beta] bytes/s.',
    runs: 300,
    property: (machine: AnyStateMachine) =>
      stepsProperty(
        trains,
        machine,
        perRun(fresh, (m, before, step) => {
          const ev = eventOf(step);
          const owed = m.owed;
          const now = observe(m, ev);
          if (ev.type !== 'host.eoc') return undefined;
          m.owed = false;
          if (owed || !injected(step, 'eoc')) return undefined;
          if (m.arrival === null) return 'an EoC injected with no arrival before it';
          const dt = now - m.arrival.now;
          const rd = dt > 0 ? (m.arrival.bytes * 1e9) / dt : Number.POSITIVE_INFINITY;
          const { alpha, beta } = (before.context as Context).p;
          if (rd < alpha) return `an EoC injected although too cold: RD ${rd.toFixed(0)} < alpha ${alpha} bytes/s`;
          if (rd > beta) return `an EoC injected although too hot: RD ${rd.toFixed(0)} > beta ${beta} bytes/s`;
          return undefined;
        }),
        'optimistic-interrupts/eoc-injects-only-in-band',
      ),
  },
  {
    name: 'optimistic-interrupts/no-lost-wakeup',
    description:
      'Composed with the guest (EVI raised with discardIfMasked, EoC without; frames land after their arrival; the guest masks, polls and unmasks ' +
      'at arbitrary points; its handler does not run before an arrival\'s data has landed): once arrivals stop and a final EoC is delivered, ' +
      'every frame that landed in the vNIC ring is consumed with no further arrival.',
    runs: 500,
    property: (machine: AnyStateMachine) =>
      fc.property(arbScenario, (sc) => {
        const r = runComposed(machine, sc);
        if (r.stranded > 0 || r.consumed !== r.placed)
          throw new Error(
            `${r.stranded} of ${r.placed} frames stranded in the vNIC ring (consumed ${r.consumed}) with no arrival to come:\n${r.log.join('\n')}`,
          );
      }),
  },
  {
    name: 'optimistic-interrupts/no-lost-wakeup-early-handlers',
    description:
      'As no-lost-wakeup, but the guest\'s handler may run before an arrival\'s data has landed (premature, §4.3.1 case 2) and the VMM reports ' +
      'what it sees (premature handlers, frames waiting for an idle guest at an EoC): with prematureFeedback and ringCheck (defaults), every ' +
      'frame that landed is consumed once arrivals stop and a final EoC is delivered.',
    runs: 500,
    property: (machine: AnyStateMachine) =>
      fc.property(arbScenario, (sc) => {
        const r = runComposed(machine, sc, { earlyHandler: true, vmmSees: true });
        if (r.stranded > 0 || r.consumed !== r.placed)
          throw new Error(
            `${r.stranded} of ${r.placed} frames stranded in the vNIC ring (consumed ${r.consumed}) with no arrival to come:\n${r.log.join('\n')}`,
          );
      }),
  },
];
