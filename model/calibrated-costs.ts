/**
 * The cost values after calibration: the cost table's defaults with the fitted values stored in
 * model/calibration.json (the round-trip stage and the throughput stage) (written by `npx tsx model/calibration.ts --write`), so every run uses
 * the same calibrated costs without refitting.
 */
import { existsSync, readFileSync } from 'node:fs';
import { checkCosts, type Costs } from './costs.js';

export interface CalibrationRecord {
  readonly schema: 'vnet-model/calibration@1';
  readonly procedure: string;
  readonly figures: readonly string[];
  readonly objective: number;
  readonly evaluations: number;
  readonly values: Readonly<Record<string, number>>;
  /** The second stage: the UDP throughput rows' parameters, fitted with the round-trip values fixed. */
  readonly throughput?: {
    readonly procedure: string;
    readonly figures: readonly string[];
    readonly objective: number;
    readonly evaluations: number;
    readonly values: Readonly<Record<string, number>>;
  };
}

function load(): CalibrationRecord {
  // Beside this module when run from source; from the compiled dist/model/, the package's model/.
  const here = new URL('./calibration.json', import.meta.url);
  const file = existsSync(here) ? here : new URL('../../model/calibration.json', import.meta.url);
  const doc = JSON.parse(readFileSync(file, 'utf8')) as CalibrationRecord;
  if (doc?.schema !== 'vnet-model/calibration@1' || typeof doc.values !== 'object' || doc.values === null) {
    throw new Error('model/calibration.json is not a vnet-model/calibration@1 document; refit with `npx tsx model/calibration.ts --write`');
  }
  return doc;
}

export const calibrationRecord: CalibrationRecord = load();
/** Validated by `checkCosts`: a stored value out of its parameter's range is an error here. */
export const calibratedCosts: Costs = checkCosts({ ...calibrationRecord.values, ...(calibrationRecord.throughput?.values ?? {}) });
