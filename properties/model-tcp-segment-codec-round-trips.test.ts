/**
 * The TCP segment codec (machines/packet.ts `encodeTcp` / `decodeTcp`, RFC 9293 §3.1 with the
 * RFC 7323 Timestamps option): a decoded segment gives back every field and the payload, and a
 * segment with any one byte changed (header, option or payload) fails its checksum, which is what
 * lets the guest TCP of model/tcp.ts drop a corrupted segment and have it retransmitted. A decoder
 * that skips the checksum (the broken variant) accepts the changed segment.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { decodeTcp, encodeTcp, TCP_ACK, TCP_PSH, type TcpHeader } from '../machines/packet.js';
import { numRuns } from './harness.js';

const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const headerArb: fc.Arbitrary<TcpHeader> = fc.record({
  srcIp: u32,
  dstIp: u32,
  srcPort: fc.integer({ min: 0, max: 65535 }),
  dstPort: fc.integer({ min: 0, max: 65535 }),
  seq: u32,
  ack: u32,
  flags: fc.constantFrom(TCP_ACK, TCP_ACK | TCP_PSH),
  window: fc.integer({ min: 0, max: 65535 }),
  timestamps: fc.option(fc.record({ value: u32, echo: u32 }), { nil: undefined }),
});

/** The broken variant: the same parse, checksum not verified. */
function decodeWithoutChecksum(srcIp: number, dstIp: number, bytes: Uint8Array): boolean {
  return bytes.length >= 20 && (bytes[12] >> 4) * 4 >= 20;
}

describe('TCP segment codec', () => {
  test('decode gives back what was encoded', () => {
    fc.assert(
      fc.property(headerArb, fc.uint8Array({ maxLength: 64 }), (h, payload) => {
        const d = decodeTcp(h.srcIp, h.dstIp, encodeTcp(h, payload));
        expect(d.ok).toBe(true);
        if (!d.ok) return;
        expect({ srcPort: d.srcPort, dstPort: d.dstPort, seq: d.seq, ack: d.ack, flags: d.flags, window: d.window, timestamps: d.timestamps }).toEqual({
          srcPort: h.srcPort,
          dstPort: h.dstPort,
          seq: h.seq,
          ack: h.ack,
          flags: h.flags,
          window: h.window,
          timestamps: h.timestamps,
        });
        expect([...d.payload]).toEqual([...payload]);
      }),
      { numRuns: numRuns(200) },
    );
  });

  const changed = fc
    .tuple(headerArb, fc.uint8Array({ maxLength: 64 }), fc.nat(), fc.integer({ min: 1, max: 255 }))
    .map(([h, payload, at, mask]) => {
      const seg = encodeTcp(h, payload);
      const bad = seg.slice();
      bad[at % bad.length] ^= mask;
      return { h, bad };
    });

  test('any one byte changed fails the checksum', () => {
    fc.assert(
      fc.property(changed, ({ h, bad }) => {
        const d = decodeTcp(h.srcIp, h.dstIp, bad);
        expect(d.ok).toBe(false);
      }),
      { numRuns: numRuns(300) },
    );
  });

  test('a decoder that skips the checksum accepts a changed segment', () => {
    const [{ h, bad }] = fc.sample(changed, { numRuns: 1, seed: 1 });
    expect(decodeWithoutChecksum(h.srcIp, h.dstIp, bad)).toBe(true);
  });
});
