/** The VTOE NIC's own properties: rdma_cm event order, EQ delivery, interrupts and doorbell pick-up. */
import fc from 'fast-check';
import { describe, test } from 'vitest';
import { vtoeNicMachine } from '../machines/vtoe-nic.js';
import { numRuns } from './harness.js';
import { properties } from './vtoe-nic.props.js';

describe('vtoe-nic', () => {
  for (const p of properties) {
    test(`${p.name}: ${p.description}`, () => {
      fc.assert(p.property(vtoeNicMachine), { numRuns: numRuns(p.runs) });
    });
  }
});
