/**
 * End to end through every machine on the VNET/P path (model/overlay-path.ts): for any frame size
 * and physical MTU, every frame guest A sends reaches guest B byte for byte, the wire carries
 * exactly the IPv4 fragments the MTU requires, and no machine's invariant breaks on the way
 * (the wiring checks them after every delivery and would stop the run).
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { bytesEqual } from '../machines/packet.js';
import { defaultCosts } from '../model/costs.js';
import { buildOverlayPath } from '../model/overlay-path.js';
import { systemRuns } from './harness.js';

/** Fragments of an IPv4 datagram of `payload` bytes at `mtu` (RFC 791: offsets in 8-byte units). */
function fragmentsFor(payload: number, mtu: number): number {
  if (payload + 20 <= mtu) return 1;
  const perFragment = Math.floor((mtu - 20) / 8) * 8;
  return Math.ceil(payload / perFragment);
}

describe('overlay path', () => {
  test('every frame arrives byte-identical, fragmented exactly as the MTU requires', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 42, max: 9018 }),
        fc.integer({ min: 576, max: 9000 }),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(defaultCosts.link1GbpsBitRate, defaultCosts.link10GbpsBitRate),
        (frameBytes, mtu, frames, linkBitRate) => {
          const path = buildOverlayPath({ frameBytes, frames, mtu, linkBitRate });
          const result = path.system.run({ maxEvents: 200_000 });
          expect(result.stoppedBy).toBe('empty');
          expect(path.received.length).toBe(frames);
          for (const [i, f] of path.received.entries()) expect(bytesEqual(f.data!, path.sent[i].data!)).toBe(true);
          // The encapsulated datagram carries the frame behind a UDP header.
          expect(path.wire.length).toBe(frames * fragmentsFor(frameBytes + 8, mtu));
          for (const w of path.wire) expect(w.packet.length).toBeLessThanOrEqual(mtu + 14);
        },
      ),
      { numRuns: systemRuns(40) },
    );
  });
});
