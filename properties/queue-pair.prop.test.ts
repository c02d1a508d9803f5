/** The queue pair's own properties, against the verbs state table written as data. */
import fc from 'fast-check';
import { describe, test } from 'vitest';
import { queuePairMachine } from '../machines/queue-pair.js';
import { numRuns } from './harness.js';
import { properties } from './queue-pair.props.js';

describe('queue-pair', () => {
  for (const p of properties) {
    test(`${p.name}: ${p.description}`, () => {
      fc.assert(p.property(queuePairMachine), { numRuns: numRuns(p.runs) });
    });
  }
});
