/** Adaptive mode's own properties, and the pinned effect of the original's inverted threshold formula. */
import fc from 'fast-check';
import { createActor } from 'xstate';
import { describe, expect, test } from 'vitest';
import { adaptiveModeMachine, checkInput, crosses, type Emitted, type Event } from '../machines/adaptive-mode.js';
import { drive } from './adaptive-mode.props.js';
import { numRuns } from './harness.js';
import { properties } from './adaptive-mode.props.js';

describe('adaptive-mode', () => {
  for (const p of properties) {
    test(`${p.name}: ${p.description}`, () => {
      fc.assert(p.property(adaptiveModeMachine), { numRuns: numRuns(p.runs) });
    });
  }

  /** 100k pkt/s at the default parameters, one exit per packet and a timer update between them. */
  const hundredK: Event[] = [{ type: 'configure', now: 0 }];
  for (let t = 10_000; t <= 50_000_000; t += 10_000) hundredK.push({ type: 'packet', now: t });

  test('pinned: at the defaults, 100k pkt/s switches the intended formula to VMM-driven at the first window', () => {
    const switches: Emitted[] = [];
    drive(adaptiveModeMachine, {}, hundredK, (_e, _m, out) => {
      switches.push(...out.filter((x) => x.type === 'mode.changed' && x.reason !== 'configured'));
      return undefined;
    });
    // The first update past 5 ms is the packet at 5.01 ms; the window held 500 packets (10 µs apart from 10 µs).
    expect(switches).toEqual([
      { type: 'mode.changed', direction: 'tx', mode: 'vmm-driven', now: 5_010_000, rate: (500 * 1e9) / 5_010_000, reason: 'rate-above-upper' },
    ]);
  });

  test('pinned: at the defaults, the palacios-inverted formula keeps 100k pkt/s guest-driven for 50 ms', () => {
    const modes = new Set<string | null>();
    drive(adaptiveModeMachine, { thresholdFormula: 'palacios-inverted' }, hundredK, (_e, m) => {
      modes.add(m);
      return undefined;
    });
    expect([...modes]).toEqual(['guest-driven']);
    // Why: past_us = 5010, so ub = 10^4 * 10^6 / 5010 = 1996007 packets, against 500 counted.
    const inverted = checkInput({ thresholdFormula: 'palacios-inverted' });
    expect(crosses(inverted, 'upper', 500, 5_010_000)).toBe(false);
    expect(crosses(inverted, 'upper', 1_996_007, 5_010_000)).toBe(false);
    expect(crosses(inverted, 'upper', 1_996_008, 5_010_000)).toBe(true);
    // And ub = 10^4 * 10^6 / 5000 = 2 * 10^6 per 5 ms: about 4 * 10^8 pkt/s would be needed.
    // With a 1 s period the inverted formula happens to agree with the intended one (ub = 9999 packets).
    const oneSecond = checkInput({ thresholdFormula: 'palacios-inverted', omega: 1_000_000_000 });
    expect(crosses(oneSecond, 'upper', 10_000, 1_000_100_000)).toBe(true);
    expect(crosses(oneSecond, 'upper', 9_999, 1_000_100_000)).toBe(false);
    // (The intended formula asks for more than 10^4 pkt/s over the 1.0001 s window: 10002 packets.)
    expect(crosses({ ...oneSecond, thresholdFormula: 'intended' }, 'upper', 10_001, 1_000_100_000)).toBe(false);
    expect(crosses({ ...oneSecond, thresholdFormula: 'intended' }, 'upper', 10_002, 1_000_100_000)).toBe(true);
  });

  test('an event whose time goes backwards is refused, counted and reported; the machine stays as it was', () => {
    const actor = createActor(adaptiveModeMachine, { input: {} });
    const out: Emitted[] = [];
    actor.on('event.rejected', (e: Emitted) => {
      out.push(e);
    });
    actor.start();
    actor.send({ type: 'configure', now: 1_000 });
    actor.send({ type: 'packet', now: 2_000 });
    const before = actor.getSnapshot();
    actor.send({ type: 'tick', now: 1_999 });
    actor.send({ type: 'packet', now: 3_000, count: 0 });
    const after = actor.getSnapshot();
    expect(after.value).toEqual(before.value);
    expect(after.context.now).toBe(2_000);
    expect(after.context.count).toBe(1);
    expect(after.context.stats.rejected).toBe(2);
    expect(out).toEqual([
      { type: 'event.rejected', event: 'tick', now: 1_999, reason: 'time-backwards' },
      { type: 'event.rejected', event: 'packet', now: 3_000, reason: 'invalid' },
    ]);
    actor.stop();
  });

  test('alpha_l must lie below alpha_u: checkInput names the field', () => {
    expect(() => checkInput({ alphaLower: 10_000, alphaUpper: 10_000 })).toThrow(/alphaLower/);
    expect(() => checkInput({ alphaLower: 20_000 })).toThrow(/alphaLower.*alphaUpper/);
    expect(checkInput({}).omega).toBe(5_000_000);
  });
});
