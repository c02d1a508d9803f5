/** The event dispatcher delivers to the standing owner only, checked against a reference dispatcher. */
import fc from 'fast-check';
import { describe, test } from 'vitest';
import { eventDispatcherMachine } from '../machines/event-dispatcher.js';
import { numRuns } from './harness.js';
import { properties } from './event-dispatcher.props.js';

describe('event-dispatcher', () => {
  for (const p of properties) {
    test(`${p.name}: ${p.description}`, () => {
      fc.assert(p.property(eventDispatcherMachine), { numRuns: numRuns(p.runs) });
    });
  }
});
