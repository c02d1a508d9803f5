/** The guest's interrupt handling, stated from outside the machine. */
import fc from 'fast-check';
import { describe, test } from 'vitest';
import { guestInterruptsMachine } from '../machines/guest-interrupts.js';
import { numRuns } from './harness.js';
import { properties } from './guest-interrupts.props.js';

describe('guest-interrupts', () => {
  for (const p of properties) {
    test(`${p.name}: ${p.description}`, () => {
      fc.assert(p.property(guestInterruptsMachine), { numRuns: numRuns(p.runs) });
    });
  }
});
