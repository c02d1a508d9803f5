/**
 * Adaptive-mode properties stated over traffic, from outside the machine: a generator produces a
 * sustained packet rate (packets every P ns) with timer updates at random gaps, and a monitor
 * reads only the emitted `mode.changed` effects and the mode the snapshot is in. The rate bounds
 * the claims need are derived here from omega and the alphas, not taken from the machine.
 */
import fc from 'fast-check';
import { createActor, type AnyStateMachine } from 'xstate';
import { modeOf, type Emitted, type Event, type Input, type Mode } from '../machines/adaptive-mode.js';
import type { MachineProperty } from './harness.js';

/** Sends `events` in order and calls `onStep` after each with the mode and what was emitted. */
export function drive(
  machine: AnyStateMachine,
  input: Input,
  events: readonly Event[],
  onStep: (event: Event, mode: Mode | null, emitted: readonly Emitted[]) => string | undefined,
): string | undefined {
  const actor = createActor(machine, { input: input as never });
  let emitted: Emitted[] = [];
  actor.on('*', (e: Emitted) => {
    emitted.push(e);
  });
  actor.start();
  try {
    for (const event of events) {
      emitted = [];
      actor.send(event);
      const snap = actor.getSnapshot();
      if (snap.status === 'error') return `the machine failed: ${String((snap as { error?: unknown }).error)}`;
      const problem = onStep(event, modeOf(snap as never), emitted);
      if (problem) return `${problem} (at ${event.type} now=${event.now})`;
    }
    return undefined;
  } finally {
    actor.stop();
  }
}

/**
 * Packets every `period` ns (none if null) and timer updates at gaps cycling through `gaps`, on
 * [start, end). A packet and a tick at the same time: the packet first.
 */
export function traffic(start: number, end: number, period: number | null, gaps: readonly number[]): Event[] {
  const out: Event[] = [];
  let p = start;
  let t = start + gaps[0];
  let i = 1;
  while ((period !== null && p < end) || t < end) {
    if (period !== null && p < end && p <= t) {
      out.push({ type: 'packet', now: p });
      p += period;
    } else {
      out.push({ type: 'tick', now: t });
      t += gaps[i++ % gaps.length];
    }
  }
  return out;
}

/** The longest gap between consecutive events (the timer granularity the claim depends on). */
export function maxGap(events: readonly Event[]): number {
  let g = 0;
  for (let i = 1; i < events.length; i++) g = Math.max(g, events[i].now - events[i - 1].now);
  return g;
}

/**
 * Parameters with at least `kl` packets per window at alpha_l and alpha_u = u * alpha_l, so that
 * one packet more or less per window (discretisation) moves the measured rate by at most alpha_l/kl.
 */
const arbParams = fc.record({
  omega: fc.integer({ min: 100_000, max: 20_000_000 }),
  kl: fc.integer({ min: 4, max: 10 }),
  u: fc.integer({ min: 2, max: 5 }),
  direction: fc.constantFrom('tx' as const, 'rx' as const),
});
type Arb = { omega: number; kl: number; u: number; direction: 'tx' | 'rx' };

function inputOf(a: Arb): Input & { alphaLower: number; alphaUpper: number; omega: number } {
  const alphaLower = Math.ceil((a.kl * 1e9) / a.omega);
  return { direction: a.direction, omega: a.omega, alphaLower, alphaUpper: alphaLower * a.u };
}

/** Timer-update gaps between 1% and 50% of omega (at most 100 updates per window keep runs short). */
const arbGaps = fc.record({
  weights: fc.array(fc.integer({ min: 200, max: 1000 }), { minLength: 1, maxLength: 12 }),
  fraction: fc.double({ min: 0.05, max: 0.5, noNaN: true }),
});
const gapsOf = (g: { weights: number[]; fraction: number }, omega: number) =>
  g.weights.map((w) => Math.max(1, Math.floor((w / 1000) * g.fraction * omega)));

/** What happens before the sustained rate starts, so that it starts from any mode and window phase. */
const arbPrefix = fc.record({
  kind: fc.constantFrom('idle' as const, 'low' as const, 'band' as const, 'high' as const),
  windows: fc.double({ min: 0, max: 4, noNaN: true }),
});

function prefixPeriod(kind: 'idle' | 'low' | 'band' | 'high', lo: number, hi: number): number | null {
  const rate = kind === 'idle' ? 0 : kind === 'low' ? lo / 3 : kind === 'band' ? (lo + hi) / 2 : hi * 2;
  return rate === 0 ? null : Math.max(1, Math.round(1e9 / rate));
}

/**
 * A sustained rate reaches its mode within two windows: from the start t0 of the sustained rate,
 * the first evaluation comes by t0 + omega + delta (delta = the longest gap between timer
 * updates), and the next one evaluates a window that lies wholly in the sustained traffic.
 */
function withinTwoWindows(target: Mode) {
  return (machine: AnyStateMachine) =>
    fc.property(arbParams, arbGaps, arbPrefix, fc.double({ min: 0, max: 1, noNaN: true }), (a, g, pre, x) => {
      const input = inputOf(a);
      const gaps = gapsOf(g, a.omega);
      const t0 = Math.floor(pre.windows * a.omega);
      // Above: at least 1.6 alpha_u, so a window of more than omega holds more than alpha_u even one packet short.
      // Below: at most alpha_l / 2 (or nothing), so a window holds less than alpha_l even one packet over.
      const rate = target === 'vmm-driven' ? input.alphaUpper * (1.6 + 1.4 * x) : x < 0.2 ? 0 : input.alphaLower * 0.5 * x;
      const period = rate === 0 ? null : target === 'vmm-driven' ? Math.floor(1e9 / rate) : Math.ceil(1e9 / rate);
      const gapBound = Math.max(...gaps, period ?? 0);
      const end = t0 + 2 * (a.omega + gapBound) + a.omega;
      const sustained = traffic(t0, end, period, gaps);
      const delta = maxGap(sustained);
      const deadline = t0 + 2 * (a.omega + delta);
      const events: Event[] = [
        { type: 'configure', now: 0 },
        ...traffic(0, t0, prefixPeriod(pre.kind, input.alphaLower, input.alphaUpper), gaps),
        ...sustained,
      ];
      const problem = drive(machine, input, events, (e, mode) =>
        e.now >= deadline && mode !== target
          ? `sustained ${rate.toFixed(0)} pkt/s since ${t0} ns, but still ${mode} at ${e.now} ns (deadline ${deadline} ns; omega ${a.omega}, alpha ${input.alphaLower}/${input.alphaUpper})`
          : undefined,
      );
      if (problem) throw new Error(problem);
    });
}

export const properties: readonly MachineProperty[] = [
  {
    name: 'adaptive-mode/high-rate-reaches-vmm-driven-within-two-windows',
    description:
      'From any mode and window phase, a packet rate sustained above alpha_u (by the discretisation margin) makes the NIC VMM-driven within two windows, omega plus the timer granularity each, and keeps it there.',
    runs: 100,
    property: withinTwoWindows('vmm-driven'),
  },
  {
    name: 'adaptive-mode/low-rate-returns-to-guest-driven-within-two-windows',
    description:
      'From any mode and window phase, a packet rate sustained below alpha_l (including silence) makes the NIC guest-driven within two windows and keeps it there.',
    runs: 100,
    property: withinTwoWindows('guest-driven'),
  },
  {
    name: 'adaptive-mode/rate-between-bounds-never-switches',
    description:
      'Hysteresis: starting at a window boundary in either mode (at configuration, or at the switch a high rate caused), a packet rate that stays between alpha_l and alpha_u in every window never switches the mode.',
    runs: 100,
    property: (machine: AnyStateMachine) =>
      fc.property(arbParams, arbGaps, fc.boolean(), fc.double({ min: 0, max: 1, noNaN: true }), (a, g, fromVmm, x) => {
        const input = inputOf(a);
        const gaps = gapsOf(g, a.omega);
        // One packet more or less per window moves the rate by at most alpha_l/kl: keep that far inside.
        const lo = input.alphaLower * (1 + 1.5 / a.kl);
        const hi = input.alphaUpper - (2.5 * input.alphaLower) / a.kl;
        const period = Math.round(1e9 / (lo + (hi - lo) * x));
        const actor = createActor(machine, { input: input as never });
        const changes: Emitted[] = [];
        actor.on('mode.changed', (e: Emitted) => {
          changes.push(e);
        });
        actor.start();
        try {
          actor.send({ type: 'configure', now: 0 });
          let start = 0;
          if (fromVmm) {
            // Drive a high rate until the switch: that evaluation is a window boundary.
            const high = traffic(0, 8 * a.omega, Math.max(1, Math.floor(1e9 / (2 * input.alphaUpper))), gaps);
            const before = changes.length;
            for (const e of high) {
              actor.send(e);
              if (changes.length > before) break;
            }
            const sw = changes[changes.length - 1];
            if (changes.length === before || sw.type !== 'mode.changed' || sw.mode !== 'vmm-driven')
              throw new Error(`a rate of 2 alpha_u for 8 windows did not switch to VMM-driven`);
            start = sw.now;
          }
          const before = changes.length;
          const band = traffic(start + period, start + 6 * a.omega, period, gaps.map((x) => x));
          for (const e of band) actor.send(e);
          if (changes.length > before) {
            const c = changes[before] as Extract<Emitted, { type: 'mode.changed' }>;
            throw new Error(
              `a rate of ${(1e9 / period).toFixed(0)} pkt/s, between alpha_l = ${input.alphaLower} and alpha_u = ${input.alphaUpper}, switched to ${c.mode} at ${c.now} ns (window rate ${c.rate?.toFixed(0)})`,
            );
          }
        } finally {
          actor.stop();
        }
      }),
  },
  {
    name: 'adaptive-mode/palacios-inverted-stays-guest-driven-at-default-parameters',
    description:
      "With the original's inverted threshold formula and the default parameters (alpha_l = 10^3, alpha_u = 10^4 pkt/s, omega = 5 ms), no sustained rate up to 10^6 pkt/s ever leaves guest-driven mode: the formula asks for about 2*10^6 packets per 5 ms window.",
    runs: 40,
    property: (machine: AnyStateMachine) =>
      fc.property(
        fc.double({ min: 3, max: 6, noNaN: true }),
        fc.integer({ min: 100_000, max: 1_000_000 }),
        (log10Rate, exitGap) => {
          const rate = 10 ** log10Rate;
          const events: Event[] = [{ type: 'configure', now: 0 }];
          // Exits every exitGap ns, each handling the packets due since the last one (exact cumulative count).
          let sent = 0;
          for (let t = exitGap; t <= 60_000_000; t += exitGap) {
            const due = Math.floor((rate * t) / 1e9);
            events.push(due > sent ? { type: 'packet', now: t, count: due - sent } : { type: 'tick', now: t });
            sent = due;
          }
          const problem = drive(machine, { thresholdFormula: 'palacios-inverted' }, events, (_e, mode, out) =>
            mode !== 'guest-driven' || out.some((x) => x.type === 'mode.changed' && x.mode === 'vmm-driven')
              ? `${rate.toFixed(0)} pkt/s switched the inverted formula to ${mode}`
              : undefined,
          );
          if (problem) throw new Error(problem);
        },
      ),
  },
];
