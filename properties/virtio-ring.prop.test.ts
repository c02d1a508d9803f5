/** The virtio ring's own properties, stated from the specification's side. */
import fc from 'fast-check';
import { describe, test } from 'vitest';
import { virtioRingMachine } from '../machines/virtio-ring.js';
import { numRuns } from './harness.js';
import { properties } from './virtio-ring.props.js';

describe('virtio-ring', () => {
  for (const p of properties) {
    test(`${p.name}: ${p.description}`, () => {
      fc.assert(p.property(virtioRingMachine), { numRuns: numRuns(p.runs) });
    });
  }
});
