/** The device allocator routes by its table, checked against a reference table. */
import fc from 'fast-check';
import { describe, test } from 'vitest';
import { deviceAllocatorMachine } from '../machines/device-allocator.js';
import { numRuns } from './harness.js';
import { properties } from './device-allocator.props.js';

describe('device-allocator', () => {
  for (const p of properties) {
    test(`${p.name}: ${p.description}`, () => {
      fc.assert(p.property(deviceAllocatorMachine), { numRuns: numRuns(p.runs) });
    });
  }
});
