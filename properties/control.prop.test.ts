/** The control daemon's own properties: read-back, answers with locations, all-or-nothing batches. */
import fc from 'fast-check';
import { describe, test } from 'vitest';
import { controlMachine } from '../machines/control.js';
import { numRuns } from './harness.js';
import { properties } from './control.props.js';

describe('control', () => {
  for (const p of properties) {
    test(`${p.name}: ${p.description}`, () => {
      fc.assert(p.property(controlMachine), { numRuns: numRuns(p.runs) });
    });
  }
});
