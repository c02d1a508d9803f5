/** The shadow connection's own properties (teardown rules and QP legality in the Linux order). */
import fc from 'fast-check';
import { describe, test } from 'vitest';
import { shadowConnectionMachine } from '../machines/shadow-connection.js';
import { numRuns } from './harness.js';
import { properties } from './shadow-connection.props.js';

describe('shadow-connection', () => {
  for (const p of properties) {
    test(`${p.name}: ${p.description}`, () => {
      fc.assert(p.property(shadowConnectionMachine), { numRuns: numRuns(p.runs) });
    });
  }
});
