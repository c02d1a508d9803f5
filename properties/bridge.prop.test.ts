/** The bridge's own properties: encapsulation round trip, reassembly, robust receive, RFC-checked wire format. */
import fc from 'fast-check';
import { describe, test } from 'vitest';
import { bridgeMachine } from '../machines/bridge.js';
import { properties } from './bridge.props.js';
import { numRuns } from './harness.js';

describe('bridge', () => {
  for (const p of properties) {
    test(`${p.name}: ${p.description}`, () => {
      fc.assert(p.property(bridgeMachine), { numRuns: numRuns(p.runs) });
    });
  }
});
