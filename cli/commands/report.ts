/**
 * `vnet-model report`: runs the experiments the system model has (so far, ICMP round trips by
 * size and ttcp UDP goodput over each built configuration) with the calibrated costs (model/calibration.json), and
 * prints the calibration figures (measured, model, error) and the results side by side. `--json`
 * prints one `vnet-model/report@1` document instead; `--out DIR` also writes DIR/report.md and its SVG
 * charts (cli/report-output.ts).
 */
import { basename } from 'node:path';
import { calibratedCosts, calibrationRecord } from '../../model/calibrated-costs.js';
import { evaluateCalibration, evaluateThroughputCalibration, type FigureResult } from '../../model/calibration.js';
import { builtConfigurations, configurations } from '../../model/configurations.js';
import type { Costs } from '../../model/costs.js';
import { measureRttUs, PING_SIZES, PING_SIZES_QUICK } from '../../model/ping.js';
import { measureUdpGoodput, TTCP_DURATION_NS, TTCP_DURATION_QUICK_NS } from '../../model/ttcp.js';
import { intOption, parseArgs, UsageError, type Command } from '../command.js';
import { writeReportFolder, type ReportContext } from '../report-output.js';

export interface RttRow {
  readonly config: string;
  readonly mtu: number;
  readonly sizeBytes: number;
  readonly rttUs: number;
}

/** ttcp UDP goodput (payload received whole per second) and its fraction of native on the same link and MTU. */
export interface ThroughputRow {
  readonly config: string;
  readonly mtu: number;
  readonly protocol: 'udp';
  readonly gbps: number;
  readonly fractionOfNative: number;
}

export interface Report {
  readonly schema: 'vnet-model/report@1';
  readonly seed: number;
  readonly calibration: readonly { figure: string; measured: number; model: number; error: number; fitted: boolean; note?: string }[];
  readonly rtt: readonly RttRow[];
  readonly throughput: readonly ThroughputRow[];
  readonly mpi: readonly never[];
  readonly interrupts: readonly never[];
  readonly variability: readonly never[];
  readonly cpu: readonly never[];
}

/** Experiments the report does not run yet: their sections are empty. */
const NOT_YET = ['throughput (TCP)', 'mpi', 'interrupts', 'variability', 'cpu'] as const;

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Runs every experiment that exists; a pure function of its arguments (same seed, same report). */
export function buildReport(o: { readonly quick: boolean; readonly seed: number; readonly costs?: Costs }): Report {
  const costs = o.costs ?? calibratedCosts;
  const sizes = o.quick ? PING_SIZES_QUICK : PING_SIZES;
  const rtt: RttRow[] = [];
  for (const c of builtConfigurations()) {
    for (const mtu of c.mtus) {
      for (const sizeBytes of sizes) {
        rtt.push({ config: c.id, mtu, sizeBytes, rttUs: round(measureRttUs(c.build, { mtu, sizeBytes, costs, seed: o.seed })) });
      }
    }
  }
  const durationNs = o.quick ? TTCP_DURATION_QUICK_NS : TTCP_DURATION_NS;
  const goodput = builtConfigurations().flatMap((c) =>
    c.mtus.map((mtu) => ({ c, mtu, bps: measureUdpGoodput(c.build, { mtu, linkBitRate: costs[c.link], costs, seed: o.seed, durationNs }).bitsPerSecond })),
  );
  // Native on the same link (the cost parameter naming its rate) and MTU.
  const native = (link: string, mtu: number) => goodput.find((g) => g.c.kind === 'native' && g.c.link === link && g.mtu === mtu)?.bps;
  const throughput: ThroughputRow[] = goodput.map(({ c, mtu, bps }) => {
    const n = native(c.link, mtu);
    return { config: c.id, mtu, protocol: 'udp', gbps: round(bps / 1e9), fractionOfNative: n ? round(bps / n) : Number.NaN };
  });
  // The calibration's goodputs are the table's MTU 1500 runs when the window is the same.
  const known = (id: string) => (durationNs === TTCP_DURATION_QUICK_NS ? goodput.find((g) => g.c.id === id && g.mtu === 1500)?.bps : undefined);
  const figures = [...evaluateCalibration(costs, o.seed), ...evaluateThroughputCalibration(costs, o.seed, TTCP_DURATION_QUICK_NS, known)];
  const calibration = figures.map((f: FigureResult) => ({
    figure: f.figure,
    measured: f.measured,
    model: round(f.model),
    error: round(f.error, 4),
    fitted: f.fitted,
    ...(f.note ? { note: f.note } : {}),
  }));
  return { schema: 'vnet-model/report@1', seed: o.seed, calibration, rtt, throughput, mpi: [], interrupts: [], variability: [], cpu: [] };
}

/** What the report says beside the document: configurations not built, experiments not modelled, fitted values. */
export function reportContext(): ReportContext {
  return {
    planned: configurations.filter((c) => c.status === 'planned').map((c) => c.id),
    notModelled: [...NOT_YET],
    fittedValues: { ...calibrationRecord.values, ...(calibrationRecord.throughput?.values ?? {}) },
  };
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: readonly string[]) => r.map((x, i) => (i === 0 ? x.padEnd(w[i]) : x.padStart(w[i]))).join('  ');
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)];
}

export function formatReport(r: Report): string {
  const out: string[] = [];
  out.push('vnet-model report (virtual time; costs calibrated on calibration.md, model/calibration.json)', '');
  out.push('Calibration: fitted only to the rows marked *; nothing is fitted to VNET/P+.', '');
  out.push(
    ...table(
      ['figure', 'measured', 'model', 'error'],
      r.calibration.map((f) => [`${f.fitted ? '*' : ' '} ${f.figure}`, String(f.measured), f.model.toFixed(2), `${(f.error * 100).toFixed(1)}%`]),
    ),
  );
  for (const f of r.calibration) if (f.note) out.push(`  (${f.figure.split(': ').pop()}: ${f.note})`);
  const ctx = reportContext();
  out.push('', `Fitted values: ${Object.entries(ctx.fittedValues).map(([k, v]) => `${k}=${v}`).join(', ')}`, '');

  out.push('ICMP round-trip time (us) by ICMP data size (bytes), median of 3 pings:', '');
  const rows = [...new Map(r.rtt.map((x) => [`${x.config}@${x.mtu}`, x] as const)).values()];
  const sizes = [...new Set(r.rtt.map((x) => x.sizeBytes))];
  const at = (config: string, mtu: number, size: number) => r.rtt.find((x) => x.config === config && x.mtu === mtu && x.sizeBytes === size)?.rttUs;
  out.push(
    ...table(
      ['configuration', 'MTU', ...sizes.map(String)],
      rows.map((x) => [x.config, String(x.mtu), ...sizes.map((s) => at(x.config, x.mtu, s)?.toFixed(1) ?? '-')]),
    ),
  );
  out.push('', 'UDP goodput (ttcp, 64000-byte writes; payload received whole per second of virtual time):', '');
  out.push(
    ...table(
      ['configuration', 'MTU', 'Gbps', 'of native'],
      r.throughput.map((x) => [x.config, String(x.mtu), x.gbps.toFixed(3), Number.isFinite(x.fractionOfNative) ? `${(x.fractionOfNative * 100).toFixed(1)}%` : '-']),
    ),
  );
  out.push('', `Not assembled yet: ${ctx.planned.join(', ')} (see docs/configurations.md).`);
  out.push(`Not modelled yet (empty in --json): ${ctx.notModelled.join(', ')}.`);
  return out.join('\n');
}

export const reportCommand: Command = {
  name: 'report',
  usage: '[--quick] [--json] [--seed N] [--out DIR]',
  summary: 'run the experiments the system model has (ICMP round trips, UDP goodput) and print the calibration and the results',
  help: [
    'Options:',
    '  --quick   a short list of ping sizes and short throughput runs',
    '  --json    print one vnet-model/report@1 JSON document',
    '  --seed N  root seed of the run (default 1)',
    '  --out DIR also write DIR/report.md and its SVG charts (created if missing)',
  ].join('\n'),
  run: async (args) => {
    const a = parseArgs(args, { values: ['--seed', '--out'], flags: ['--quick', '--json'] });
    if (a.positional.length) throw new UsageError(`unexpected argument "${a.positional[0]}"`);
    const report = buildReport({ quick: a.flags.has('--quick'), seed: intOption(a, '--seed', 1) });
    const json = a.flags.has('--json');
    console.log(json ? JSON.stringify(report, null, 2) : formatReport(report));
    const out = a.values.get('--out');
    if (out !== undefined) {
      if (out === '') throw new UsageError('--out needs a directory');
      const written = await writeReportFolder(out, report, reportContext());
      // stdout stays one JSON document under --json.
      (json ? console.error : console.log)(`${json ? '' : '\n'}Report folder: ${out} (${written.map((f) => basename(f)).join(', ')})`);
    }
    return 0;
  },
};
