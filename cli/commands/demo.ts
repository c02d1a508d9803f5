/**
 * `vnet-model demo`: guest A sends frames to guest B across a VNET/P overlay link, through every
 * machine on the path (model/overlay-path.ts), and each step is printed as it was recorded.
 * Nothing here is canned: every line is an event a machine took or an effect it emitted, in
 * virtual time. `--pcap FILE` writes what crossed the wire as a standard pcap capture.
 */
import { writeFileSync } from 'node:fs';
import { bytesEqual } from '../../machines/packet.js';
import { calibratedCosts } from '../../model/calibrated-costs.js';
import { defaultCosts } from '../../model/costs.js';
import { buildOverlayPath, MAX_FRAME_BYTES } from '../../model/overlay-path.js';
import { writePcap } from '../../model/pcap.js';
import type { TraceRecord } from '../../model/recorder.js';
import { ModelRunError } from '../../model/wiring.js';
import { intOption, parseArgs, UsageError, type Command } from '../command.js';

const RATES: Record<string, number> = { '1g': defaultCosts.link1GbpsBitRate, '10g': defaultCosts.link10GbpsBitRate };

/** A payload value in a line: long runs of equal numbers fold to `[4096 x64]`. */
function show(v: unknown): string {
  if (Array.isArray(v) && v.length > 4 && v.every((x) => x === v[0])) return `[${String(v[0])} x${v.length}]`;
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** One line per record, with the payload cut to what a reader needs. */
function describe(r: TraceRecord): string {
  const t = `${(r.t / 1000).toFixed(3).padStart(10)} us`;
  const arrow = r.kind === 'event' ? '<-' : '->';
  const p = (r.payload ?? {}) as Record<string, unknown>;
  const keep = Object.entries(p)
    .filter(([k]) => !['type', 'now', 'data', 'route'].includes(k))
    .map(([k, v]) => `${k}=${show(v)}`)
    .join(' ');
  return `${t}  ${r.component.padEnd(13)} ${arrow} ${r.type}${keep ? `  ${keep}` : ''}${r.ignored ? '  (not accepted in this state)' : ''}`;
}

export const demo: Command = {
  name: 'demo',
  usage: '[--bytes N] [--frames N] [--mtu N] [--link 1g|10g] [--pcap FILE] [--quiet]',
  summary: 'send frames from guest A to guest B across a VNET/P overlay link and print every step',
  help: [
    'Options:',
    `  --bytes N    guest frame size in bytes, 42 to ${MAX_FRAME_BYTES} (default 1514)`,
    '  --frames N   frames to send (default 1)',
    '  --mtu N      physical MTU of the host network (default 1500); larger encapsulated frames are fragmented',
    '  --link R     host link rate, 1g or 10g (default 10g)',
    '  --pcap FILE  write the packets that crossed the wire as a pcap capture (decode UDP port 9000 as Ethernet',
    '               to see the inner frames: tshark -r FILE -d udp.port==9000,eth)',
    '  --quiet      print only the summary',
  ].join('\n'),
  run: async (args) => {
    const a = parseArgs(args, { values: ['--bytes', '--frames', '--mtu', '--link', '--pcap'], flags: ['--quiet'] });
    if (a.positional.length) throw new UsageError(`unexpected argument "${a.positional[0]}"`);
    const frameBytes = intOption(a, '--bytes', 1514);
    if (frameBytes < 42 || frameBytes > MAX_FRAME_BYTES) throw new UsageError(`--bytes must be from 42 to ${MAX_FRAME_BYTES}, got ${frameBytes}`);
    const frames = intOption(a, '--frames', 1);
    if (frames > 10_000) throw new UsageError(`--frames must be at most 10000, got ${frames}`);
    const mtu = intOption(a, '--mtu', 1500);
    if (mtu < 576 || mtu > 65535) throw new UsageError(`--mtu must be from 576 to 65535, got ${mtu}`);
    const link = (a.values.get('--link') ?? '10g').toLowerCase();
    if (!(link in RATES)) throw new UsageError(`--link must be 1g or 10g, got "${a.values.get('--link')}"`);

    const path = buildOverlayPath({ frameBytes, frames, mtu, linkBitRate: RATES[link], costs: calibratedCosts });
    const records: TraceRecord[] = [];
    path.system.recorder.observe((r) => records.push(r));
    try {
      path.system.run({ maxEvents: 1_000_000 });
    } catch (err) {
      if (err instanceof ModelRunError) {
        console.error(`vnet-model demo: the run stopped: ${err.message}`);
        for (const r of err.trace.slice(-15)) console.error(describe(r));
        return 1;
      }
      throw err;
    }
    const quiet = a.flags.has('--quiet');
    if (!quiet) {
      console.log(`guest A (${frameBytes}-byte frames) -> host A -> ${link} Ethernet, MTU ${mtu} -> host B -> guest B\n`);
      for (const r of records) console.log(describe(r));
      console.log('');
    }
    const intact = path.received.filter((f) => {
      const original = path.sent.find((s) => s.bytes === f.bytes && f.data && s.data && bytesEqual(s.data, f.data));
      return original !== undefined;
    }).length;
    const lastRx = records.filter((r) => r.component === 'B.rx' && r.type === 'rx.frame').at(-1);
    const firstTx = records.find((r) => r.component === 'A.tx' && r.type === 'driver.add');
    console.log(`frames sent by guest A:              ${path.sent.length}`);
    console.log(`packets on the wire:                 ${path.wire.length} (${path.wire.length / Math.max(1, path.sent.length)} per frame at MTU ${mtu})`);
    console.log(`frames received by guest B:          ${path.received.length}, ${intact} byte-identical to what A sent`);
    if (firstTx && lastRx) console.log(`first send to last receive:          ${((lastRx.t - firstTx.t) / 1000).toFixed(3)} us of virtual time`);
    console.log(`events and effects recorded:         ${records.length}`);
    const pcap = a.values.get('--pcap');
    if (pcap) {
      try {
        writeFileSync(pcap, writePcap(path.wire));
      } catch (err) {
        throw new UsageError(`cannot write ${pcap}: ${(err as Error).message}`);
      }
      console.log(`wire capture written to:             ${pcap} (pcap, Ethernet, ${path.wire.length} packets)`);
    }
    return path.received.length === frames && intact === frames ? 0 : 1;
  },
};
