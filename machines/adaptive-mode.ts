/**
 * Adaptive mode: per vNIC and per direction, the choice between guest-driven and VMM-driven
 * operation, switched by the rate of packets measured over fixed windows.
 *
 * Sources: dissertation §5.1.2 (guest-driven vs VMM-driven, Figure 5.5: adaptive operation with
 * simple hysteresis), §5.1.7 (alpha_l = 10^3 pkt/s, alpha_u = 10^4 pkt/s, omega = 5 ms); the
 * original Palacios code (palacios-notes.md §2.2, §2.3, §7 item 3).
 *
 * One machine is one direction of one vNIC. Before the guest programs the ring nothing is
 * measured (`unconfigured`). Statically configured NICs stay in their mode (`fixed`). An adaptive
 * NIC starts guest-driven and counts packets (VM exits due to vNIC accesses) in a window that
 * starts at the last evaluation. The window is evaluated on the first timer update (`tick`, or the
 * exit of a `packet`) at which more than omega has elapsed, as the original's timer does: fixed,
 * non-overlapping windows, the overshoot past omega is thrown away, no smoothing. A rate above
 * alpha_u switches guest-driven to VMM-driven; a rate below alpha_l switches back; a rate between
 * the two keeps the mode (hysteresis). The switch is emitted as `mode.changed`; the system model
 * turns it into kick suppression on the TX ring (virtio-ring `device.suppress`) or into skipping
 * the receive IPI.
 *
 * The original computes its thresholds with an inverted formula (lb = lower*1e6/past_us,
 * ub = upper*1e6/past_us, integer division); `thresholdFormula: 'palacios-inverted'` reproduces it.
 * With the default rates and a millisecond window it never leaves guest-driven mode.
 *
 * Time is the `now` field of events (integer ns). An event whose `now` lies before the latest
 * accepted one, or with a malformed field, is rejected: the machine stays as it is, counts it and
 * emits `event.rejected`, so that a driver with a broken clock is noticed rather than ignored.
 */
import { and, assign, enqueueActions, not, setup, type SnapshotFrom } from 'xstate';
import { defineEntry, type Invariant, type Witness } from './catalog-entry.js';
import { checkParams, InputError, type ParamsOf } from './params.js';

export type Mode = 'guest-driven' | 'vmm-driven';
export type Direction = 'tx' | 'rx';

export const params = {
  direction: {
    kind: 'enum',
    default: 'tx',
    values: ['tx', 'rx'] as const,
    description:
      'Transmit (VMM-driven = the guest stops kicking, the TX ring is polled) or receive (VMM-driven = no IPI after placing a frame). Each direction switches on its own.',
    source: 'palacios-notes.md §2.2 (tx_notify, rx_notify)',
  },
  mode: {
    kind: 'enum',
    default: 'adaptive',
    values: ['adaptive', 'guest-driven', 'vmm-driven'] as const,
    description: 'Adaptive operation, or a static mode. The evaluation in §5.1.7 uses adaptive.',
    source: '§5.1.2; §5.1.7',
  },
  alphaLower: {
    kind: 'number',
    default: 1e3,
    min: 1,
    max: 1e9,
    integer: true,
    unit: 'pkt/s',
    description: 'alpha_l: a window whose packet rate is below this switches VMM-driven back to guest-driven. Must be below alphaUpper.',
    source: '§5.1.7; palacios-notes.md §2.3 (RATE_LOWER_THRESHOLD_DEFAULT)',
  },
  alphaUpper: {
    kind: 'number',
    default: 1e4,
    min: 1,
    max: 1e9,
    integer: true,
    unit: 'pkt/s',
    description: 'alpha_u: a window whose packet rate is above this switches guest-driven to VMM-driven.',
    source: '§5.1.7; palacios-notes.md §2.3 (RATE_UPPER_THRESHOLD_DEFAULT)',
  },
  omega: {
    kind: 'number',
    default: 5_000_000,
    min: 1_000,
    max: 60_000_000_000,
    integer: true,
    unit: 'ns',
    description:
      'omega: the window over which the rate is computed. A window is evaluated at the first timer update after more than omega has elapsed. The original measures in whole microseconds, hence at least 1 µs; its default period is 10 ms.',
    source: '§5.1.7; palacios-notes.md §2.3 (PROFILE_PERIOD_DEFAULT)',
  },
  thresholdFormula: {
    kind: 'enum',
    default: 'intended',
    values: ['intended', 'palacios-inverted'] as const,
    description:
      "How a window's packet count is compared with the rate bounds: `intended` compares count/elapsed with alpha (the dissertation); `palacios-inverted` compares the count with alpha*1e6/past_us (integer division), the original's bug.",
    source: 'palacios-notes.md §2.3',
  },
} as const;

export type Params = ParamsOf<typeof params>;
export type Input = Partial<Params>;

/** Returns complete parameters or throws an `InputError` naming the field. */
export function checkInput(input: unknown): Params {
  const p = checkParams('adaptive-mode', params, input);
  // The hysteresis band needs alpha_l < alpha_u; with lower > upper the original can flip twice per window.
  if (!(p.alphaLower < p.alphaUpper)) {
    throw new InputError('adaptive-mode', 'alphaLower', p.alphaLower, `a rate below alphaUpper (${p.alphaUpper} pkt/s)`);
  }
  return p;
}

/** One window evaluation: when, over how long, how many packets, and the mode before and after. */
export interface Evaluation {
  readonly at: number;
  /** Length of the window actually measured (more than omega; the overshoot is not carried over). */
  readonly elapsed: number;
  readonly count: number;
  readonly from: Mode;
  readonly to: Mode;
}

export interface Stats {
  /** Packets counted in windows (after configuration, adaptive only). */
  packets: number;
  evaluations: number;
  switches: number;
  /** Events refused because `now` went backwards or a field was malformed. */
  rejected: number;
}

export interface Context {
  readonly p: Params;
  /** Time of the latest accepted event (ns). */
  now: number;
  /** Start of the current window: the configuration or the last evaluation (ns). */
  windowStart: number;
  /** Packets counted in the current window. */
  count: number;
  /** The latest window evaluation, if any. */
  lastEvaluation: Evaluation | null;
  /** Times of the last two rate-driven switches, oldest first. */
  switchTimes: number[];
  stats: Stats;
}

export type Event =
  /** The guest programs the ring (the TX PFN is written): measurement starts now. */
  | { type: 'configure'; now: number }
  /** A VM exit due to a vNIC access that handled `count` packets (default 1); also a timer update. */
  | { type: 'packet'; now: number; count?: number }
  /** A timer update on vcore 0 (any VM entry/exit or the halt loop) with no packet. */
  | { type: 'tick'; now: number };

export type Emitted =
  /** The mode of this direction changed (or was set at configuration); `rate` is the window's pkt/s. */
  | {
      type: 'mode.changed';
      direction: Direction;
      mode: Mode;
      now: number;
      rate: number | null;
      reason: 'configured' | 'rate-above-upper' | 'rate-below-lower';
    }
  /** An event was refused: its `now` went backwards, or a field was malformed. */
  | { type: 'event.rejected'; event: Event['type']; now: unknown; reason: 'time-backwards' | 'invalid' };

/** The initial context for complete parameters. */
export function initialContext(p: Params): Context {
  return {
    p,
    now: 0,
    windowStart: 0,
    count: 0,
    lastEvaluation: null,
    switchTimes: [],
    stats: { packets: 0, evaluations: 0, switches: 0, rejected: 0 },
  };
}

// ---- pure protocol steps -------------------------------------------------------------------------

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function packetCount(e: Event): number {
  return e.type === 'packet' ? (e.count ?? 1) : 0;
}

function wellFormed(e: Event): boolean {
  if (!isTime(e.now)) return false;
  if (e.type === 'packet' && e.count !== undefined) return Number.isSafeInteger(e.count) && e.count > 0;
  return true;
}

/** A window's packet rate in pkt/s (for reports; decisions use exact integer comparisons). */
export function rateOf(count: number, elapsedNs: number): number {
  return elapsedNs > 0 ? (count * 1e9) / elapsedNs : Number.POSITIVE_INFINITY;
}

/**
 * Does a window of `count` packets over `elapsedNs` lie above the upper bound (`'upper'`) or
 * below the lower bound (`'lower'`) under the chosen formula?
 */
export function crosses(p: Params, bound: 'upper' | 'lower', count: number, elapsedNs: number): boolean {
  const alpha = BigInt(bound === 'upper' ? p.alphaUpper : p.alphaLower);
  const n = BigInt(count);
  if (p.thresholdFormula === 'intended') {
    // rate = count / elapsed * 1e9, compared exactly: count * 1e9 against alpha * elapsed.
    const lhs = n * 1_000_000_000n;
    const rhs = alpha * BigInt(elapsedNs);
    return bound === 'upper' ? lhs > rhs : lhs < rhs;
  }
  // The original: past_us in whole µs, threshold = alpha * 1e6 / past_us packets, integer division.
  const pastUs = BigInt(Math.floor(elapsedNs / 1000));
  if (pastUs === 0n) return false;
  const threshold = (alpha * 1_000_000n) / pastUs;
  return bound === 'upper' ? n > threshold : n < threshold;
}

const src = (source: string) => ({ source });

export const adaptiveModeMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as Input | undefined,
    emitted: {} as Emitted,
    meta: {} as { source: string },
  },
  guards: {
    /** `now` does not go backwards and every field is well formed. */
    inOrder: ({ context, event }) => wellFormed(event) && event.now >= context.now,
    /** More than omega has passed since the window started (the original's `past_us > period_us`). */
    windowElapsed: ({ context, event }) => event.now - context.windowStart > context.p.omega,
    /** The closing window's rate lies above alpha_u. */
    rateAboveUpper: ({ context, event }) => crosses(context.p, 'upper', context.count, event.now - context.windowStart),
    /** The closing window's rate lies below alpha_l. */
    rateBelowLower: ({ context, event }) => crosses(context.p, 'lower', context.count, event.now - context.windowStart),
    modeIsAdaptive: ({ context }) => context.p.mode === 'adaptive',
    modeIsGuestDriven: ({ context }) => context.p.mode === 'guest-driven',
  },
  actions: {
    advanceClock: assign(({ event }) => ({ now: event.now })),
    /** The window starts when the guest configures the ring. */
    startWindow: assign(({ event }) => ({ windowStart: event.now, count: 0 })),
    countPackets: assign(({ context, event }) => ({
      count: context.count + packetCount(event),
      stats: { ...context.stats, packets: context.stats.packets + packetCount(event) },
    })),
    /** Records the evaluation and starts the next window now: the overshoot past omega is dropped. */
    closeWindow: assign(({ context, event }, params: { from: Mode; to: Mode }) => ({
      lastEvaluation: {
        at: event.now,
        elapsed: event.now - context.windowStart,
        count: context.count,
        from: params.from,
        to: params.to,
      },
      windowStart: event.now,
      count: 0,
      stats: { ...context.stats, evaluations: context.stats.evaluations + 1 },
    })),
    /** Records a rate-driven switch and emits it (the rate is that of the closing window). */
    announceSwitch: enqueueActions(({ context, event, enqueue }, params: { to: Mode }) => {
      const elapsed = event.now - context.windowStart;
      enqueue.assign({
        switchTimes: [...context.switchTimes, event.now].slice(-2),
        stats: { ...context.stats, switches: context.stats.switches + 1 },
      });
      enqueue.emit({
        type: 'mode.changed',
        direction: context.p.direction,
        mode: params.to,
        now: event.now,
        rate: rateOf(context.count, elapsed),
        reason: params.to === 'vmm-driven' ? 'rate-above-upper' : 'rate-below-lower',
      });
    }),
    announceConfigured: enqueueActions(({ context, event, enqueue }, params: { mode: Mode }) => {
      enqueue.emit({ type: 'mode.changed', direction: context.p.direction, mode: params.mode, now: event.now, rate: null, reason: 'configured' });
    }),
    rejectEvent: enqueueActions(({ context, event, enqueue }) => {
      const malformed = !wellFormed(event);
      enqueue.assign({ stats: { ...context.stats, rejected: context.stats.rejected + 1 } });
      enqueue.emit({ type: 'event.rejected', event: event.type, now: event.now, reason: malformed ? 'invalid' : 'time-backwards' });
    }),
  },
}).createMachine({
  id: 'adaptive-mode',
  description: 'Guest-driven vs VMM-driven operation of one direction of one vNIC, switched by the packet rate with hysteresis.',
  meta: src('§5.1.2 (Figure 5.5); palacios-notes.md §2.3'),
  context: ({ input }) => initialContext(checkInput(input)),
  initial: 'unconfigured',
  on: {
    configure: [
      {
        guard: not('inOrder'),
        actions: 'rejectEvent',
        description: 'Refuse a configuration whose time goes backwards or is malformed: count it and report it.',
        meta: src('ARCHITECTURE.md (time enters as event fields)'),
      },
      {
        actions: 'advanceClock',
        description: 'The ring is already configured: programming it again changes nothing.',
        meta: src('palacios-notes.md §2.3 (status set once the TX PFN is written)'),
      },
    ],
    packet: {
      guard: not('inOrder'),
      actions: 'rejectEvent',
      description: 'Refuse a packet whose time goes backwards or whose count is malformed: count it and report it.',
      meta: src('ARCHITECTURE.md (time enters as event fields)'),
    },
    tick: {
      guard: not('inOrder'),
      actions: 'rejectEvent',
      description: 'Refuse a timer update whose time goes backwards: count it and report it.',
      meta: src('ARCHITECTURE.md (time enters as event fields)'),
    },
  },
  states: {
    unconfigured: {
      description: 'The guest has not configured the ring yet: nothing is measured and no mode applies.',
      meta: src('palacios-notes.md §2.3 (the timer does nothing until status is 1)'),
      on: {
        configure: [
          {
            guard: and(['inOrder', 'modeIsAdaptive']),
            target: 'adaptive.guestDriven',
            actions: ['advanceClock', 'startWindow', { type: 'announceConfigured', params: { mode: 'guest-driven' } }],
            description: 'Adaptive: start guest-driven and open the first window.',
            meta: src('§5.1.2; palacios-notes.md §2.2 (adaptive starts 1/1)'),
          },
          {
            guard: and(['inOrder', 'modeIsGuestDriven']),
            target: 'fixed.guestDriven',
            actions: ['advanceClock', { type: 'announceConfigured', params: { mode: 'guest-driven' } }],
            description: 'Static guest-driven: the guest kicks (TX) and receives are signalled by IPI (RX), for good.',
            meta: src('§5.1.2; palacios-notes.md §2.2'),
          },
          {
            guard: 'inOrder',
            target: 'fixed.vmmDriven',
            actions: ['advanceClock', { type: 'announceConfigured', params: { mode: 'vmm-driven' } }],
            description: 'Static VMM-driven: NO_NOTIFY is set the moment the guest programs the ring, and no receive IPI is sent.',
            meta: src('§5.1.2; palacios-notes.md §2.2 (vmm-driven sets NO_NOTIFY at PFN write)'),
          },
        ],
        packet: {
          guard: 'inOrder',
          actions: 'advanceClock',
          description: 'A packet before configuration is not counted.',
          meta: src('palacios-notes.md §2.3'),
        },
        tick: {
          guard: 'inOrder',
          actions: 'advanceClock',
          description: 'A timer update before configuration does nothing.',
          meta: src('palacios-notes.md §2.3'),
        },
      },
    },
    adaptive: {
      description: 'Adaptive operation: the packet rate of each window decides the mode, with hysteresis between alpha_l and alpha_u.',
      meta: src('§5.1.2 (Figure 5.5); §5.1.7'),
      initial: 'guestDriven',
      states: {
        guestDriven: {
          description: 'Guest-driven: the guest kicks on transmit and the dispatcher runs in its exit; receives are signalled by IPI. Lowest latency.',
          meta: src('§5.1.2 guest-driven mode'),
          on: {
            packet: [
              {
                guard: and(['inOrder', 'windowElapsed', 'rateAboveUpper']),
                target: 'vmmDriven',
                actions: [
                  'advanceClock',
                  { type: 'announceSwitch', params: { to: 'vmm-driven' } },
                  { type: 'closeWindow', params: { from: 'guest-driven', to: 'vmm-driven' } },
                  'countPackets',
                ],
                description: 'The window is over and its rate exceeds alpha_u: switch to VMM-driven; this exit opens the next window.',
                meta: src('§5.1.2; palacios-notes.md §2.3 (count > ub)'),
              },
              {
                guard: and(['inOrder', 'windowElapsed']),
                actions: ['advanceClock', { type: 'closeWindow', params: { from: 'guest-driven', to: 'guest-driven' } }, 'countPackets'],
                description: 'The window is over and its rate does not exceed alpha_u: stay guest-driven; this exit opens the next window.',
                meta: src('§5.1.2 (hysteresis); palacios-notes.md §2.3'),
              },
              {
                guard: 'inOrder',
                actions: ['advanceClock', 'countPackets'],
                description: 'Count the exit in the current window.',
                meta: src('§5.1.2 (rate of exits due to vNIC accesses)'),
              },
            ],
            tick: [
              {
                guard: and(['inOrder', 'windowElapsed', 'rateAboveUpper']),
                target: 'vmmDriven',
                actions: [
                  'advanceClock',
                  { type: 'announceSwitch', params: { to: 'vmm-driven' } },
                  { type: 'closeWindow', params: { from: 'guest-driven', to: 'vmm-driven' } },
                ],
                description: 'Timer update after the window: its rate exceeds alpha_u, switch to VMM-driven and open the next window.',
                meta: src('§5.1.2; palacios-notes.md §2.3'),
              },
              {
                guard: and(['inOrder', 'windowElapsed']),
                actions: ['advanceClock', { type: 'closeWindow', params: { from: 'guest-driven', to: 'guest-driven' } }],
                description: 'Timer update after the window: its rate does not exceed alpha_u, stay and open the next window.',
                meta: src('§5.1.2 (hysteresis); palacios-notes.md §2.3'),
              },
              {
                guard: 'inOrder',
                actions: 'advanceClock',
                description: 'Timer update within the window: nothing to evaluate yet.',
                meta: src('palacios-notes.md §2.3 (past_us <= period_us)'),
              },
            ],
          },
        },
        vmmDriven: {
          description: 'VMM-driven: kicks are suppressed and the TX ring is polled; no receive IPI. Several packets per exit, highest throughput.',
          meta: src('§5.1.2 VMM-driven mode'),
          on: {
            packet: [
              {
                guard: and(['inOrder', 'windowElapsed', 'rateBelowLower']),
                target: 'guestDriven',
                actions: [
                  'advanceClock',
                  { type: 'announceSwitch', params: { to: 'guest-driven' } },
                  { type: 'closeWindow', params: { from: 'vmm-driven', to: 'guest-driven' } },
                  'countPackets',
                ],
                description: 'The window is over and its rate is below alpha_l: switch back to guest-driven; this exit opens the next window.',
                meta: src('§5.1.2; palacios-notes.md §2.3 (count < lb)'),
              },
              {
                guard: and(['inOrder', 'windowElapsed']),
                actions: ['advanceClock', { type: 'closeWindow', params: { from: 'vmm-driven', to: 'vmm-driven' } }, 'countPackets'],
                description: 'The window is over and its rate is not below alpha_l: stay VMM-driven; this exit opens the next window.',
                meta: src('§5.1.2 (hysteresis)'),
              },
              {
                guard: 'inOrder',
                actions: ['advanceClock', 'countPackets'],
                description: 'Count the packet in the current window.',
                meta: src('§5.1.2'),
              },
            ],
            tick: [
              {
                guard: and(['inOrder', 'windowElapsed', 'rateBelowLower']),
                target: 'guestDriven',
                actions: [
                  'advanceClock',
                  { type: 'announceSwitch', params: { to: 'guest-driven' } },
                  { type: 'closeWindow', params: { from: 'vmm-driven', to: 'guest-driven' } },
                ],
                description: 'Timer update after the window: its rate is below alpha_l, switch back to guest-driven.',
                meta: src('§5.1.2; palacios-notes.md §2.3'),
              },
              {
                guard: and(['inOrder', 'windowElapsed']),
                actions: ['advanceClock', { type: 'closeWindow', params: { from: 'vmm-driven', to: 'vmm-driven' } }],
                description: 'Timer update after the window: its rate is not below alpha_l, stay VMM-driven.',
                meta: src('§5.1.2 (hysteresis)'),
              },
              {
                guard: 'inOrder',
                actions: 'advanceClock',
                description: 'Timer update within the window: nothing to evaluate yet.',
                meta: src('palacios-notes.md §2.3'),
              },
            ],
          },
        },
      },
    },
    fixed: {
      description: 'A statically configured mode: packets and timer updates only advance time.',
      meta: src('§5.1.2 ("statically use either VMM-driven or guest-driven mode")'),
      // Entered only through an explicit target from `unconfigured`; xstate requires an initial child.
      initial: 'guestDriven',
      on: {
        packet: {
          guard: 'inOrder',
          actions: 'advanceClock',
          description: 'A static mode measures nothing.',
          meta: src('palacios-notes.md §2.2 (upper/lower/period read only in adaptive mode)'),
        },
        tick: {
          guard: 'inOrder',
          actions: 'advanceClock',
          description: 'A static mode has no timer.',
          meta: src('palacios-notes.md §2.2 (the timer is registered only in adaptive mode)'),
        },
      },
      states: {
        guestDriven: {
          description: 'Statically guest-driven.',
          meta: src('§5.1.2 guest-driven mode'),
        },
        vmmDriven: {
          description: 'Statically VMM-driven.',
          meta: src('§5.1.2 VMM-driven mode'),
        },
      },
    },
  },
});

export type AdaptiveModeMachine = typeof adaptiveModeMachine;

// ---- catalog entry -----------------------------------------------------------------------------

type Snap = SnapshotFrom<AdaptiveModeMachine>;

/** The mode a snapshot is in, or null before configuration. */
export function modeOf(s: Snap): Mode | null {
  if (s.matches({ adaptive: 'guestDriven' }) || s.matches({ fixed: 'guestDriven' })) return 'guest-driven';
  if (s.matches({ adaptive: 'vmmDriven' }) || s.matches({ fixed: 'vmmDriven' })) return 'vmm-driven';
  return null;
}

/** Where a window's rate lies relative to the bounds, under the dissertation's (intended) formula. */
function band(p: Params, count: number, elapsed: number): 'above' | 'between' | 'below' {
  const lhs = BigInt(count) * 1_000_000_000n;
  if (lhs > BigInt(p.alphaUpper) * BigInt(elapsed)) return 'above';
  if (lhs < BigInt(p.alphaLower) * BigInt(elapsed)) return 'below';
  return 'between';
}

/** Safety properties of adaptive switching alone. */
export const invariants: readonly Invariant<Snap>[] = [
  {
    name: 'window-evaluated-when-elapsed',
    description:
      'In adaptive operation no window is left overdue: after every accepted event the current window is at most omega long, because the first timer update past omega evaluates it and starts the next one.',
    source: '§5.1.2 ("recalculates the rate periodically"); palacios-notes.md §2.3',
    check: (s) => {
      const c = s.context;
      if (!s.matches('adaptive')) return undefined;
      const open = c.now - c.windowStart;
      return open > c.p.omega ? `the current window has been open ${open} ns, more than omega = ${c.p.omega} ns, without evaluation` : undefined;
    },
    witness: {
      name: 'window-full-not-yet-evaluated',
      description: 'A window is sometimes exactly omega long and still open (evaluation needs strictly more than omega).',
      reached: (s) => s.matches('adaptive') && s.context.now - s.context.windowStart === s.context.p.omega,
    },
  },
  {
    name: 'switch-only-across-a-bound',
    description:
      'With the dissertation formula, an evaluation switches guest-driven to VMM-driven exactly when the window rate is above alpha_u, and VMM-driven to guest-driven exactly when it is below alpha_l; a rate between the bounds keeps the mode (hysteresis).',
    source: '§5.1.2 ("simple hysteresis"); §5.1.7',
    check: (s) => {
      const c = s.context;
      const ev = c.lastEvaluation;
      if (!ev || c.p.thresholdFormula !== 'intended') return undefined;
      const b = band(c.p, ev.count, ev.elapsed);
      const rate = rateOf(ev.count, ev.elapsed).toFixed(1);
      const expected: Mode = ev.from === 'guest-driven' ? (b === 'above' ? 'vmm-driven' : 'guest-driven') : b === 'below' ? 'guest-driven' : 'vmm-driven';
      return ev.to === expected ? undefined : `a window at ${rate} pkt/s (${b} the bounds) took ${ev.from} to ${ev.to}, expected ${expected}`;
    },
    witness: {
      name: 'switched-to-vmm-driven',
      description: 'A window rate above alpha_u sometimes switches a NIC to VMM-driven.',
      reached: (s) => s.context.lastEvaluation?.to === 'vmm-driven' && s.context.lastEvaluation.from === 'guest-driven',
    },
  },
  {
    name: 'at-most-one-switch-per-window',
    description: 'Two rate-driven switches are always more than omega apart: each window is evaluated once and yields at most one switch.',
    source: '§5.1.2 ("recalculates the rate periodically"); palacios-notes.md §2.3',
    check: (s) => {
      const [a, b] = s.context.switchTimes;
      if (b === undefined) return undefined;
      return b - a > s.context.p.omega ? undefined : `switches at ${a} ns and ${b} ns are only ${b - a} ns apart (omega = ${s.context.p.omega} ns)`;
    },
    witness: {
      name: 'switched-back',
      description: 'A NIC sometimes switches to VMM-driven and back again.',
      reached: (s) => s.context.switchTimes.length === 2,
    },
  },
  {
    name: 'static-mode-never-changes',
    description: 'A statically configured NIC is in its configured mode once the ring is configured, and never switches.',
    source: '§5.1.2; §5.1.7 (mode parameter)',
    check: (s) => {
      const c = s.context;
      if (c.p.mode === 'adaptive') return s.matches('fixed') ? 'an adaptive NIC is in a static mode' : undefined;
      if (s.matches('adaptive')) return `a ${c.p.mode} NIC is adapting`;
      const m = modeOf(s);
      if (m !== null && m !== c.p.mode) return `a ${c.p.mode} NIC is ${m}`;
      return c.stats.switches > 0 ? `a ${c.p.mode} NIC switched ${c.stats.switches} times` : undefined;
    },
    witness: {
      name: 'static-vmm-driven',
      description: 'A statically VMM-driven NIC is sometimes configured.',
      reached: (s) => s.matches({ fixed: 'vmmDriven' }),
    },
  },
  {
    name: 'time-never-goes-backwards',
    description: 'An event whose time lies before the latest accepted one is refused: the clock, the window and the evaluations never run backwards.',
    source: 'ARCHITECTURE.md (time enters as integer ns event fields)',
    check: (s) => {
      const c = s.context;
      if (c.windowStart > c.now) return `the window starts at ${c.windowStart} ns, after the current time ${c.now} ns`;
      if (c.lastEvaluation && c.lastEvaluation.at > c.now) return `an evaluation at ${c.lastEvaluation.at} ns lies after the current time ${c.now} ns`;
      if (c.switchTimes.some((t) => t > c.now)) return `a switch lies after the current time ${c.now} ns`;
      return undefined;
    },
    witness: {
      name: 'out-of-order-event-rejected',
      description: 'An event with an earlier time than the latest is sometimes offered and refused.',
      reached: (s) => s.context.stats.rejected > 0,
    },
  },
];

/** "Sometimes" conditions beyond the invariants' own. */
export const witnesses: readonly Witness<Snap>[] = [
  {
    name: 'hysteresis-keeps-mode',
    description: 'A window rate between alpha_l and alpha_u sometimes keeps a VMM-driven NIC VMM-driven.',
    reached: (s) => {
      const ev = s.context.lastEvaluation;
      return !!ev && ev.from === 'vmm-driven' && ev.to === 'vmm-driven' && band(s.context.p, ev.count, ev.elapsed) === 'between';
    },
  },
  {
    name: 'overshoot-discarded',
    description: 'A window is sometimes evaluated long after omega (an idle gap); the next window starts at the evaluation.',
    reached: (s) => {
      const ev = s.context.lastEvaluation;
      return !!ev && ev.elapsed >= 2 * s.context.p.omega;
    },
  },
];

/**
 * The exploration alphabet. Time moves in steps of omega/2 (a window closes at the third step,
 * 1.5 omega) or jumps 3 omega (an idle gap); packets at the current time are capped at six per
 * window, enough to lie above, between and below the bounds of the samples.
 */
export function explorationEvents(s: Snap): Event[] {
  const c = s.context;
  const half = Math.floor(c.p.omega / 2);
  const ev: Event[] = [];
  ev.push({ type: 'configure', now: c.now });
  if (c.count < 6) ev.push({ type: 'packet', now: c.now });
  ev.push({ type: 'packet', now: c.now + half });
  ev.push({ type: 'tick', now: c.now + half });
  ev.push({ type: 'tick', now: c.now + 3 * c.p.omega });
  // A driver whose clock runs backwards: refused.
  if (c.now > 0) ev.push({ type: 'configure', now: c.now - 1 }, { type: 'packet', now: c.now - 1 }, { type: 'tick', now: c.now - 1 });
  return ev;
}

/**
 * A finite key: absolute times are dropped; what decides behaviour is the mode, the packets in
 * the window and how long it has been open. The last evaluation is kept by its band and outcome
 * and the last switch by how long ago it was (capped past omega), which the invariants read.
 */
export function serializeState(s: Snap): string {
  const c = s.context;
  const ev = c.lastEvaluation;
  const cap = (x: number) => Math.min(x, c.p.omega + 1);
  const [a, b] = c.switchTimes;
  return JSON.stringify([
    s.value,
    c.count,
    cap(c.now - c.windowStart),
    ev ? [ev.from, ev.to, band(c.p, ev.count, ev.elapsed), ev.elapsed >= 2 * c.p.omega] : null,
    a === undefined ? null : cap(c.now - (b ?? a)),
    b === undefined ? null : cap(b - a),
    c.stats.rejected > 0,
  ]);
}

export const entry = defineEntry({
  id: 'adaptive-mode',
  title: 'Adaptive guest-driven / VMM-driven mode (one direction of one vNIC)',
  summary:
    'Each direction of a vNIC runs guest-driven (the guest kicks on transmit and the dispatcher runs in its exit; ' +
    'a received frame is signalled by IPI) or VMM-driven (kicks suppressed and the ring polled; no receive IPI), ' +
    'statically or adaptively. In adaptive operation the NIC starts guest-driven once the guest configures the ring ' +
    'and counts packets (exits due to vNIC accesses) in fixed, non-overlapping windows. A window is evaluated at ' +
    'the first timer update after more than omega has elapsed and the next one starts there, the overshoot thrown ' +
    'away. A rate above alpha_u switches to VMM-driven, a rate below alpha_l switches back, and a rate between them ' +
    'keeps the mode (hysteresis), so there is at most one switch per window. The switch is emitted for the system ' +
    'model to apply to the ring. A variant reproduces the original code, whose inverted threshold formula keeps a ' +
    'NIC guest-driven at any realistic rate with the default parameters. Events whose time runs backwards are refused and counted.',
  source: ['§5.1.2', '§5.1.7', 'palacios-notes.md §2.2, §2.3'],
  machine: adaptiveModeMachine,
  params,
  checkInput,
  samples: [
    { name: 'adaptive-tx', input: { direction: 'tx', alphaLower: 1000, alphaUpper: 3000, omega: 1_000_000 } },
    { name: 'static-guest-driven-rx', input: { direction: 'rx', mode: 'guest-driven', omega: 1_000_000 } },
    { name: 'static-vmm-driven-tx', input: { direction: 'tx', mode: 'vmm-driven', omega: 1_000_000 } },
    {
      name: 'adaptive-palacios-inverted-rx',
      input: { direction: 'rx', alphaLower: 1000, alphaUpper: 3000, omega: 1_000_000, thresholdFormula: 'palacios-inverted' },
    },
  ],
  invariants,
  witnesses,
  events: explorationEvents,
  serializeState,
  accepts: [
    { type: 'configure', description: 'The guest programs the ring: measurement (or the static mode) starts at `now`.' },
    { type: 'packet', description: 'A VM exit due to a vNIC access that handled `count` packets (default 1) at `now`; also a timer update.' },
    { type: 'tick', description: 'A timer update at `now` (any VM entry/exit or the halt loop): evaluates the window if more than omega has elapsed.' },
  ],
  emits: [
    {
      type: 'mode.changed',
      description: 'The direction is now guest-driven or VMM-driven (at configuration, or a rate-driven switch with the window rate).',
    },
    { type: 'event.rejected', description: 'An event was refused: its time went backwards or a field was malformed.' },
  ],
});
