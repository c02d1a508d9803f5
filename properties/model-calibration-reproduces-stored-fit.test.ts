/**
 * Calibration: the stored fit (model/calibration.json) is what the fitting procedure gives, so
 * runs are reproducible without refitting; it holds only fitted parameters an Ethernet baseline
 * row constrains (never the lightweight-kernel noise, whose only evidence is VNET/P+, and never a
 * VNET/P+ or VTOE figure), each within its range; and it fits each fitted figure within 10%.
 *
 * The first stage (round trips, cheap) is refitted here; the second (every row, seven throughput
 * experiments per evaluation, minutes) is checked by re-evaluating its objective at the stored
 * values: the same number comes back, so the stored values and the model agree.
 */
import { describe, expect, test } from 'vitest';
import { calibratedCosts, calibrationRecord } from '../model/calibrated-costs.js';
import { evaluateAll, fitRoundTrips, fittedParameters, objectiveOf } from '../model/calibration.js';
import { costParams, type CostName } from '../model/costs.js';

interface Stage {
  readonly name: string;
  readonly objective: number;
  readonly values?: Readonly<Record<string, number>>;
}
const stages = (calibrationRecord as unknown as { stages: readonly Stage[] }).stages;

describe('calibration', () => {
  test('refitting the round-trip stage reproduces its stored values', () => {
    expect(fitRoundTrips().values).toEqual(stages[0].values);
  });

  test("the stored values give the stored objective of the second stage (model and fit agree)", () => {
    const o = objectiveOf((costs) => evaluateAll(costs))(calibrationRecord.values);
    expect(o).toBeCloseTo(calibrationRecord.objective, 10);
  });

  test('only fitted parameters a baseline row constrains are stored, each within its range', () => {
    expect(Object.keys(calibrationRecord.values).sort()).toEqual([...fittedParameters].sort());
    for (const [name, v] of Object.entries(calibrationRecord.values)) {
      const s = costParams[name as CostName];
      expect(s.basis).toBe('fitted');
      expect(v).toBeGreaterThanOrEqual(s.min);
      expect(v).toBeLessThanOrEqual(s.max);
    }
    expect(fittedParameters).not.toContain('lwkNoiseMeanIntervalNs');
    expect(calibrationRecord.figures.join(' ')).not.toMatch(/VNET\/P\+|VTOE/);
  });

  test('each fitted figure is within 10% of the measurement', () => {
    for (const f of evaluateAll(calibratedCosts)) if (f.fitted) expect(Math.abs(f.error), f.figure).toBeLessThan(0.1);
  });
});
