/** The guest socket's own properties, against RFC 9293 with VTOE events for segments. */
import fc from 'fast-check';
import { describe, test } from 'vitest';
import { guestSocketMachine } from '../machines/guest-socket.js';
import { numRuns } from './harness.js';
import { properties } from './guest-socket.props.js';

describe('guest-socket', () => {
  for (const p of properties) {
    test(`${p.name}: ${p.description}`, () => {
      fc.assert(p.property(guestSocketMachine), { numRuns: numRuns(p.runs) });
    });
  }
});
