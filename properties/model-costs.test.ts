/**
 * The cost table: defaults are the figures the sources give, every parameter says where it comes
 * from and whether it is fitted, overrides are validated, and the conversions follow IEEE 802.3.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  CostError,
  checkCosts,
  costNames,
  costParams,
  costRules,
  costTable,
  cycles,
  defaultCosts,
  ethernetSerializationNs,
  ethernetWireBytes,
  serializationNs,
  vnetEncapsulatedBytes,
  type CostName,
  type CostSpec,
} from '../model/costs.js';
import { numRuns } from './harness.js';

const spec = (n: CostName): CostSpec => costParams[n];
const overridable = costNames.filter((n) => spec(n).basis !== 'derived');

describe('model costs: defaults are the sources\' figures', () => {
  test('chapter 3 and calibration.md figures', () => {
    const c = defaultCosts;
    expect(c.cpuHz).toBe(2.3e9);
    expect(c.trapEmulateCycles).toBe(5_000);
    expect(c.virtualInterruptMinCycles).toBe(10_000);
    expect([c.vmExitEntryMinCycles, c.vmExitEntryMaxCycles]).toEqual([10_000, 200_000]);
    expect(c.irqToHandlerCycles).toBe(40_000);
    expect([c.guestRxStartMinCycles, c.guestRxStartMaxCycles]).toEqual([430_000, 25_000_000]);
    expect(c.hostArrivalToVnicCycles).toBe(20_000_000);
    expect([c.link1GbpsBitRate, c.link10GbpsBitRate, c.ibSignalingBitRate, c.ibDataBitRate]).toEqual([1e9, 1e10, 4e10, 3.2e10]);
    expect([c.ethernetMtuBytes, c.jumboMtuBytes, c.ibUdMtuBytes, c.ipoibMtuBytes]).toEqual([1500, 9000, 2048, 65520]);
    expect([c.ethHeaderBytes, c.ethFcsBytes, c.ethPreambleSfdBytes, c.ethIfgBytes, c.ethMinFrameBytes]).toEqual([14, 4, 8, 12, 64]);
    expect([c.ipv4HeaderBytes, c.udpHeaderBytes, c.tcpHeaderBytes]).toEqual([20, 8, 20]);
    expect(c.vnetEncapBytes).toBe(42);
  });

  test('every parameter has a unit, a source and a basis; fitted ones say they are guesses', () => {
    for (const row of costTable()) {
      expect(row.source.length, row.name).toBeGreaterThan(3);
      expect(row.description.length, row.name).toBeGreaterThan(10);
      expect(row.fitted, row.name).toBe(row.basis === 'fitted');
      const s = spec(row.name);
      expect(row.value >= s.min && row.value <= s.max, `${row.name} default within its range`).toBe(true);
      if (s.basis === 'fitted') {
        expect(s.note, row.name).toMatch(/guess|assumption/i);
        expect(Array.isArray(s.fitTo), row.name).toBe(true);
      }
      if (s.basis === 'derived') {
        // A derived parameter uses only parameters listed before it.
        for (const f of s.from) expect(costNames.indexOf(f as CostName), `${row.name} from ${f}`).toBeGreaterThanOrEqual(0);
        for (const f of s.from) expect(costNames.indexOf(f as CostName), `${row.name} from ${f}`).toBeLessThan(costNames.indexOf(row.name));
      }
    }
    // The defaults must satisfy the rules between parameters.
    for (const r of costRules) expect(r.holds(defaultCosts), r.says).toBe(true);
  });

  test('the costs are frozen', () => {
    expect(Object.isFrozen(defaultCosts)).toBe(true);
    expect(Object.isFrozen(checkCosts({ trapEmulateCycles: 6000 }))).toBe(true);
  });
});

describe('model costs: overrides are validated', () => {
  /** The message of the CostError `f` throws, or fails the test. */
  function costError(f: () => unknown): CostError {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(CostError);
      return e as CostError;
    }
    throw new Error('expected a CostError');
  }

  test('an in-range override is taken, or refused only by a rule that names the parameter', () => {
    const arb = fc.constantFrom(...overridable).chain((name) => {
      const s = spec(name);
      const inside = s.integer ? fc.integer({ min: Math.ceil(s.min), max: Math.floor(Math.min(s.max, Number.MAX_SAFE_INTEGER)) }) : fc.double({ min: s.min, max: s.max, noNaN: true });
      // The ends of the range are where derived values leave theirs.
      return fc.tuple(fc.constant(name), fc.oneof(fc.constant(s.min), fc.constant(s.max), inside), fc.boolean());
    });
    fc.assert(
      fc.property(arb, ([name, value, withUnit]) => {
        const override = withUnit ? { value, unit: spec(name).unit } : value;
        let costs;
        try {
          costs = checkCosts({ [name]: override });
        } catch (e) {
          expect(e).toBeInstanceOf(CostError);
          const rule = costRules.find((r) => (e as Error).message.includes(r.says));
          expect(rule, (e as Error).message).toBeDefined();
          expect(rule!.names).toContain(name);
          return;
        }
        expect(costs[name]).toBe(value);
        for (const other of overridable) if (other !== name) expect(costs[other]).toBe(defaultCosts[other]);
      }),
      { numRuns: numRuns(300) },
    );
  });

  test('an out-of-range or non-integer override is refused, naming the parameter and the value', () => {
    const arb = fc.constantFrom(...overridable).chain((name) => {
      const s = spec(name);
      const bad = [fc.constant(s.min - 1), fc.constant(s.max + 1), fc.constant(Number.NaN), fc.constant(Number.POSITIVE_INFINITY)];
      if (s.integer) bad.push(fc.constant(s.min + 0.5));
      return fc.tuple(fc.constant(name), fc.oneof(...bad));
    });
    fc.assert(
      fc.property(arb, ([name, value]) => {
        const e = costError(() => checkCosts({ [name]: value }));
        expect(e.parameter).toBe(name);
        expect(e.message).toContain(`costs.${name} = ${String(value)}`);
        expect(e.message).toContain(spec(name).unit);
      }),
      { numRuns: numRuns(200) },
    );
  });

  test('unknown names, wrong units, derived parameters and broken rules are refused by name', () => {
    expect(costError(() => checkCosts({ trapEmulateCycle: 1 })).message).toMatch(/costs\.trapEmulateCycle = 1 .*no such cost parameter; did you mean "trapEmulateCycles"/);
    expect(costError(() => checkCosts({ cpuHz: { value: 2.3, unit: 'GHz' } })).message).toMatch(/costs\.cpuHz .*unit must be "Hz", not "GHz"/);
    expect(costError(() => checkCosts({ ibDataBitRate: 3e10 })).message).toMatch(/costs\.ibDataBitRate .*derived from ibSignalingBitRate, ibEncodingEfficiency/);
    expect(costError(() => checkCosts({ vmExitEntryCycles: 500_000 })).message).toMatch(/vmExitEntryCycles <= vmExitEntryMaxCycles .*vmExitEntryCycles=500000/);
    expect(costError(() => checkCosts({ lwkNoiseDurationNs: 50_000_000 })).message).toMatch(/no noisier than Linux/);
    expect(costError(() => checkCosts({ cpuHz: '2.3e9' as never })).message).toMatch(/costs\.cpuHz = "2.3e9"/);
    expect(costError(() => checkCosts([] as never)).message).toMatch(/an object/);
    // Derived values follow what they derive from.
    expect(checkCosts({ trapEmulateCycles: 6_000 }).virtualInterruptMinCycles).toBe(12_000);
    expect(checkCosts({ ibSignalingBitRate: 20e9 }).ibDataBitRate).toBe(16e9);
  });
});

describe('model costs: conversions', () => {
  test('cycles at 2.3 GHz', () => {
    expect(cycles(2.3e9)).toBe(1e9);
    expect(cycles(5_000)).toBe(2_174); // 2173.9 ns
    expect(cycles(40_000)).toBe(17_391);
    expect(cycles(0)).toBe(0);
    expect(cycles(1_000, 1e9)).toBe(1_000);
    expect(() => cycles(-1)).toThrow(CostError);
  });

  test('Ethernet wire bytes and serialization (IEEE 802.3: FCS, padding, preamble+SFD, gap)', () => {
    // A minimum frame: 60 bytes + 4 FCS = 64, + 8 preamble/SFD + 12 gap = 84 bytes, 67.2 ns at 10 Gbps.
    expect(ethernetWireBytes(60)).toBe(84);
    expect(ethernetWireBytes(14)).toBe(84); // padded
    expect(ethernetSerializationNs(60, 1e10)).toBe(68);
    expect(ethernetSerializationNs(60, 1e9)).toBe(672); // 1.488 Mframe/s at 1 Gbps
    // A full 1500-byte-MTU frame: 1514 + 4 + 8 + 12 = 1538 bytes.
    expect(ethernetWireBytes(1514)).toBe(1538);
    expect(ethernetSerializationNs(1514, 1e10)).toBe(1231); // 1230.4 ns, rounded up
    expect(ethernetSerializationNs(1514, 1e9)).toBe(12_304);
    expect(serializationNs(2048, defaultCosts.ibDataBitRate)).toBe(512);
    expect(vnetEncapsulatedBytes(1514)).toBe(1556);
    expect(() => ethernetWireBytes(13)).toThrow(/frame bytes/);
  });

  test('serialization is never early and less than 1 ns late', () => {
    fc.assert(
      fc.property(fc.nat({ max: 70_000 }), fc.constantFrom(1e9, 1e10, 3.2e10, 4e10, 2.5e9), (bytes, rate) => {
        const ns = serializationNs(bytes, rate);
        const exact = (bytes * 8 * 1e9) / rate;
        expect(Number.isInteger(ns)).toBe(true);
        expect(ns).toBeGreaterThanOrEqual(exact);
        expect(ns - exact).toBeLessThan(1);
        expect(serializationNs(bytes + 1, rate)).toBeGreaterThanOrEqual(ns);
      }),
      { numRuns: numRuns(300) },
    );
  });
});
