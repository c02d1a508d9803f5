/**
 * Calibration: the stored fit (model/calibration.json) is what the fitting procedure gives, so
 * runs are reproducible without refitting; it holds only fitted parameters that an ICMP
 * round-trip row constrains (never the lightweight-kernel noise, whose only evidence is VNET/P+),
 * each within its range; and it fits the rows it was fitted to within 5%.
 */
import { describe, expect, test } from 'vitest';
import { calibratedCosts, calibrationRecord } from '../model/calibrated-costs.js';
import { evaluateCalibration, fit, rttFittedParameters } from '../model/calibration.js';
import { costParams, type CostName } from '../model/costs.js';

describe('calibration', () => {
  test('refitting reproduces the stored values', () => {
    const r = fit();
    expect(r.values).toEqual(calibrationRecord.values);
  });

  test('only fitted parameters an RTT row constrains are stored, each within its range', () => {
    expect(Object.keys(calibrationRecord.values).sort()).toEqual([...rttFittedParameters].sort());
    for (const [name, v] of Object.entries(calibrationRecord.values)) {
      const s = costParams[name as CostName];
      expect(s.basis).toBe('fitted');
      expect(v).toBeGreaterThanOrEqual(s.min);
      expect(v).toBeLessThanOrEqual(s.max);
    }
    expect(rttFittedParameters).not.toContain('lwkNoiseMeanIntervalNs');
    expect(calibrationRecord.figures.join(' ')).not.toMatch(/VNET\/P\+|VTOE/);
  });

  test('the fitted figures are within 5% of the measurements', () => {
    for (const f of evaluateCalibration(calibratedCosts)) if (f.fitted) expect(Math.abs(f.error), f.figure).toBeLessThan(0.05);
  });
});
