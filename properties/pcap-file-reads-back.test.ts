/**
 * A pcap file written by `writePcap` reads back, with a reader written here from the file format
 * (libpcap, draft-ietf-opsawg-pcap §4-5), to the same packets and times, in order.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { writePcap } from '../model/pcap.js';
import { numRuns } from './harness.js';

interface ReadBack {
  magic: number;
  version: [number, number];
  snaplen: number;
  linkType: number;
  records: { timeNs: number; captured: number; original: number; packet: Uint8Array }[];
}

/** Reads a little-endian pcap file; throws on anything a reader would reject. */
function readPcap(file: Uint8Array): ReadBack {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (file.length < 24) throw new Error('shorter than the global header');
  const magic = view.getUint32(0, true);
  const nanos = magic === 0xa1b23c4d;
  if (!nanos && magic !== 0xa1b2c3d4) throw new Error(`magic ${magic.toString(16)} is not a little-endian pcap magic`);
  const snaplen = view.getUint32(16, true);
  const out: ReadBack = {
    magic,
    version: [view.getUint16(4, true), view.getUint16(6, true)],
    snaplen,
    linkType: view.getUint32(20, true),
    records: [],
  };
  let at = 24;
  while (at < file.length) {
    if (file.length - at < 16) throw new Error(`record header cut at byte ${at}`);
    const sec = view.getUint32(at, true);
    const frac = view.getUint32(at + 4, true);
    const captured = view.getUint32(at + 8, true);
    const original = view.getUint32(at + 12, true);
    if (frac >= (nanos ? 1e9 : 1e6)) throw new Error(`sub-second field ${frac} out of range`);
    if (captured > snaplen || captured > original) throw new Error(`captured length ${captured} inconsistent`);
    if (file.length - at - 16 < captured) throw new Error(`record data cut at byte ${at}`);
    out.records.push({
      timeNs: sec * 1e9 + (nanos ? frac : frac * 1000),
      captured,
      original,
      packet: file.slice(at + 16, at + 16 + captured),
    });
    at += 16 + captured;
  }
  return out;
}

const records = fc.array(
  fc.record({
    timeNs: fc.oneof(fc.nat({ max: 5e9 }), fc.integer({ min: 0, max: 2 ** 32 * 1e9 - 1 }).filter(Number.isSafeInteger)),
    packet: fc.uint8Array({ minLength: 0, maxLength: 1600 }),
  }),
  { maxLength: 20 },
);

describe('pcap', () => {
  test('a written file starts with the nanosecond magic, little-endian, version 2.4, link type Ethernet', () => {
    const file = writePcap([{ timeNs: 1_500_000_123, packet: new Uint8Array([1, 2, 3]) }]);
    expect([...file.subarray(0, 4)]).toEqual([0x4d, 0x3c, 0xb2, 0xa1]);
    const back = readPcap(file);
    expect(back.version).toEqual([2, 4]);
    expect(back.linkType).toBe(1);
    expect(back.records).toEqual([{ timeNs: 1_500_000_123, captured: 3, original: 3, packet: new Uint8Array([1, 2, 3]) }]);
    // Seconds and nanoseconds as separate fields.
    expect(new DataView(file.buffer).getUint32(24, true)).toBe(1);
    expect(new DataView(file.buffer).getUint32(28, true)).toBe(500_000_123);
  });

  test('every file reads back to the same packets and times, one record per packet, in order', () => {
    fc.assert(
      fc.property(records, (rs) => {
        const back = readPcap(writePcap(rs));
        expect(back.records.length).toBe(rs.length);
        back.records.forEach((r, i) => {
          expect(r.timeNs).toBe(rs[i].timeNs);
          expect(r.captured).toBe(rs[i].packet.length);
          expect(r.original).toBe(rs[i].packet.length);
          expect(r.packet).toEqual(rs[i].packet);
        });
      }),
      { numRuns: numRuns(200) },
    );
  });

  test('times that do not fit the format are refused', () => {
    expect(() => writePcap([{ timeNs: -1, packet: new Uint8Array(1) }])).toThrow(RangeError);
    expect(() => writePcap([{ timeNs: 0.5, packet: new Uint8Array(1) }])).toThrow(RangeError);
    expect(() => writePcap([{ timeNs: 2 ** 32 * 1e9, packet: new Uint8Array(1) }])).toThrow(RangeError);
  });
});
