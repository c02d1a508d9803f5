/** The routing core's own properties, stated from the original's matching rules. */
import fc from 'fast-check';
import { describe, test } from 'vitest';
import { routingMachine } from '../machines/routing.js';
import { numRuns } from './harness.js';
import { properties } from './routing.props.js';

describe('routing', () => {
  for (const p of properties) {
    test(`${p.name}: ${p.description}`, () => {
      fc.assert(p.property(routingMachine), { numRuns: numRuns(p.runs) });
    });
  }
});
