/** The memory allocator's effects respect buffer ownership. */
import fc from 'fast-check';
import { describe, test } from 'vitest';
import { memoryAllocatorMachine } from '../machines/memory-allocator.js';
import { numRuns } from './harness.js';
import { properties } from './memory-allocator.props.js';

describe('memory-allocator', () => {
  for (const p of properties) {
    test(`${p.name}: ${p.description}`, () => {
      fc.assert(p.property(memoryAllocatorMachine), { numRuns: numRuns(p.runs) });
    });
  }
});
