/**
 * Writes packets as a classic pcap capture file, so that a model trace opens in Wireshark or tcpdump.
 *
 * Format (the libpcap file format, draft-ietf-opsawg-pcap): a 24-byte global header, then per
 * packet a 16-byte record header and the bytes. Everything is little-endian. The magic 0xa1b23c4d
 * says timestamps carry nanoseconds, which the model's integer-ns clock fills exactly. Link type 1
 * is Ethernet (LINKTYPE_ETHERNET): each packet is an Ethernet frame without FCS.
 */

/** Magic number of a nanosecond-resolution pcap file. */
export const PCAP_MAGIC_NANOSECONDS = 0xa1b23c4d;
export const PCAP_VERSION = { major: 2, minor: 4 } as const;
export const LINKTYPE_ETHERNET = 1;
/** Largest packet recorded whole; longer ones are refused rather than silently cut. */
export const PCAP_SNAPLEN = 262144;

const GLOBAL_HEADER_BYTES = 24;
const RECORD_HEADER_BYTES = 16;

export interface PcapRecord {
  /** Capture time in integer nanoseconds since the start of the run (the epoch, to readers). */
  readonly timeNs: number;
  readonly packet: Uint8Array;
}

/** A pcap file holding `records` in the order given, one record per packet. */
export function writePcap(records: readonly PcapRecord[]): Uint8Array {
  let size = GLOBAL_HEADER_BYTES;
  for (const [i, r] of records.entries()) {
    if (!Number.isSafeInteger(r.timeNs) || r.timeNs < 0 || Math.floor(r.timeNs / 1e9) > 0xffffffff) {
      throw new RangeError(`pcap record ${i}: timeNs ${r.timeNs} is not a non-negative integer within 2^32 s`);
    }
    if (!(r.packet instanceof Uint8Array) || r.packet.length > PCAP_SNAPLEN) {
      throw new RangeError(`pcap record ${i}: the packet must be a Uint8Array of at most ${PCAP_SNAPLEN} bytes`);
    }
    size += RECORD_HEADER_BYTES + r.packet.length;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, PCAP_MAGIC_NANOSECONDS, true);
  view.setUint16(4, PCAP_VERSION.major, true);
  view.setUint16(6, PCAP_VERSION.minor, true);
  view.setInt32(8, 0, true); // thiszone: timestamps are UTC
  view.setUint32(12, 0, true); // sigfigs
  view.setUint32(16, PCAP_SNAPLEN, true);
  view.setUint32(20, LINKTYPE_ETHERNET, true);
  let at = GLOBAL_HEADER_BYTES;
  for (const r of records) {
    view.setUint32(at, Math.floor(r.timeNs / 1e9), true);
    view.setUint32(at + 4, r.timeNs % 1e9, true);
    view.setUint32(at + 8, r.packet.length, true); // captured length
    view.setUint32(at + 12, r.packet.length, true); // original length
    out.set(r.packet, at + RECORD_HEADER_BYTES);
    at += RECORD_HEADER_BYTES + r.packet.length;
  }
  return out;
}
