/**
 * InfiniBand calibration (model/ib-calibration.ts): the stored fit (model/ib-calibration.json)
 * holds only fitted InfiniBand host parameters whose `fitTo` names an InfiniBand row of
 * calibration.md (never a VTOE parameter, never a VNET+VTOE figure), each within its range; and the
 * stored values give back each stage's stored objective, so the store and the model agree and runs
 * need no refit. (A refit takes minutes, so the search itself is not rerun here; the objective
 * check fails as soon as the model or the stored values move.)
 */
import { describe, expect, test } from 'vitest';
import { costParams, type CostName } from '../model/costs.js';
import { ibCalibrationRecord, ibStageObjective, ibStageParameters } from '../model/ib-calibration.js';

const IB_ROW = /^(TCP over InfiniBand|MPI over InfiniBand|HPCC ping-pong, InfiniBand)/;

describe('InfiniBand calibration', () => {
  const rec = ibCalibrationRecord!;

  test('a stored fit exists, of InfiniBand host parameters only, each fitted to an InfiniBand row and within its range', () => {
    expect(rec).toBeDefined();
    const allowed = new Set<string>([...ibStageParameters.sdp, ...ibStageParameters.ipoib]);
    for (const [name, v] of Object.entries(rec.values)) {
      expect(allowed.has(name), name).toBe(true);
      expect(name).not.toMatch(/vtoe/i);
      const s = costParams[name as CostName];
      expect(s.basis, name).toBe('fitted');
      if (s.basis !== 'fitted') continue;
      expect(s.fitTo.some((row) => IB_ROW.test(row)), name).toBe(true);
      expect(v).toBeGreaterThanOrEqual(s.min);
      expect(v).toBeLessThanOrEqual(s.max);
    }
    for (const st of rec.stages) expect(st.figures.join(' ')).not.toMatch(/VTOE|VNET\/P\+/);
  });

  test.each(['sdp', 'ipoib'] as const)('the stored values give the stored objective of stage %s', (name) => {
    const st = rec.stages.find((s) => s.name === name)!;
    // Each stage ran from the base with the earlier stages' values fixed.
    const earlier = Object.assign({}, ...rec.stages.slice(0, rec.stages.indexOf(st)).map((s) => s.values)) as Record<string, number>;
    expect(ibStageObjective(name, { ...rec.base, ...earlier }, st.values, rec.seed)).toBeCloseTo(st.objective, 10);
  });
});
