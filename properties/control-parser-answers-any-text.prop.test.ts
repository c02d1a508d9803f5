/**
 * The pure parser answers any input, never with an exception: any string (arbitrary code points,
 * control characters, over-long lines, mutated valid batches), any kind, even values that are not
 * strings, give either changes or an error whose line and column lie within the input.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parseControl } from '../machines/control.js';
import { asTables, anyTextArb, validTablesArb } from './control.props.js';
import { numRuns } from './harness.js';

describe('control parser', () => {
  test('answers any text, kind and tables with changes or a located error, never an exception', () => {
    fc.assert(
      fc.property(
        fc.oneof({ arbitrary: anyTextArb, weight: 5 }, { arbitrary: fc.anything(), weight: 1 }),
        fc.oneof({ arbitrary: fc.constantFrom('routes', 'links'), weight: 5 }, { arbitrary: fc.anything(), weight: 1 }),
        validTablesArb,
        fc.integer({ min: 128, max: 300 }),
        (text, kind, t, maxLineLength) => {
          const r = parseControl(text, kind, asTables(t), { maxLineLength });
          if (r.ok) {
            expect(typeof text).toBe('string');
            expect(['routes', 'links']).toContain(kind);
            return;
          }
          const lines = typeof text === 'string' ? text.split(/\r\n|\r|\n/) : [''];
          const { line, column } = r.error;
          expect(line).toBeGreaterThanOrEqual(1);
          expect(line).toBeLessThanOrEqual(lines.length);
          expect(column).toBeGreaterThanOrEqual(1);
          expect(column).toBeLessThanOrEqual(lines[line - 1].length + 1);
          expect(r.error.message).toContain(`line ${line}, column ${column}`);
        },
      ),
      { numRuns: numRuns(500) },
    );
  });

  test('a line longer than maxLineLength is rejected at the first character past the limit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 128, max: 400 }), fc.integer({ min: 1, max: 50 }), (max, over) => {
        const text = `add any any edge local any${' '.repeat(max + over - 26)}`;
        const r = parseControl(text, 'routes', {}, { maxLineLength: max });
        expect(r.ok).toBe(false);
        if (!r.ok) expect([r.error.line, r.error.column]).toEqual([1, max + 1]);
        expect(parseControl(text.slice(0, max), 'routes', {}, { maxLineLength: max }).ok).toBe(true);
      }),
      { numRuns: numRuns(50) },
    );
  });
});
