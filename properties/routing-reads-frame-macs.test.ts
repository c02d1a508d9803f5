/** frameMacs reads the destination (bytes 0-5) and source (bytes 6-11) MACs of an Ethernet frame as canonical strings. */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { frameMacs, isMac } from '../machines/routing.js';
import { numRuns } from './harness.js';

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');

describe('routing frameMacs', () => {
  test('gives the canonical destination and source MACs of any frame of 12 bytes or more', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 12, maxLength: 64 }), (data) => {
        const { dst, src } = frameMacs(data);
        expect(isMac(dst) && isMac(src)).toBe(true);
        expect(dst).toBe(hex(data.subarray(0, 6)));
        expect(src).toBe(hex(data.subarray(6, 12)));
      }),
      { numRuns: numRuns(100) },
    );
    expect(frameMacs(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 0x0a, 8, 0]))).toEqual({
      dst: 'ff:ff:ff:ff:ff:ff',
      src: '02:00:00:00:00:0a',
    });
  });

  test('refuses a frame too short to hold both addresses', () => {
    for (let n = 0; n < 12; n++) expect(() => frameMacs(new Uint8Array(n))).toThrow(RangeError);
  });
});
