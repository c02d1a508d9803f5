/** Cut-through forwarding's own properties: zero copies, one copy without it, no stale strip. */
import fc from 'fast-check';
import { describe, test } from 'vitest';
import { cutThroughMachine } from '../machines/cut-through.js';
import { numRuns } from './harness.js';
import { properties } from './cut-through.props.js';

describe('cut-through', () => {
  for (const p of properties) {
    test(`${p.name}: ${p.description}`, () => {
      fc.assert(p.property(cutThroughMachine), { numRuns: numRuns(p.runs) });
    });
  }
});
