/**
 * The report as a folder: `report.md` (the tables of the `--json` document in Markdown) and the
 * SVG charts it references, drawn with vega-lite compiled to vega and rendered headless (no canvas,
 * no network). Everything written is derived from a `Report`; the same report gives the same bytes.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import type { Report } from './commands/report.js';

const unique = <T,>(xs: readonly T[]) => [...new Set(xs)];
const pctOf = (x: number | null) => (x === null || !Number.isFinite(x) ? '-' : `${(x * 100).toFixed(1)}%`);
/** Throughput side by side: one row per configuration and MTU, a column per protocol ("Gbps (of native)"). */
export function throughputGrid(r: Report): { header: string[]; rows: string[][] } {
  const keys = [...new Map(r.throughput.map((x) => [`${x.config}@${x.mtu}`, x] as const)).values()];
  const cols = (
    [
      ['udp', 1, 'UDP'],
      ['tcp', 1, 'TCP'],
      ['tcp', 2, 'TCP bi-stream'],
    ] as const
  ).filter(([p, n]) => r.throughput.some((x) => x.protocol === p && x.streams === n));
  const header = ['configuration', 'MTU', ...cols.map(([, , name]) => name)];
  const rows = keys.map((k) => [
    k.config,
    String(k.mtu),
    ...cols.map(([p, n]) => {
      const x = r.throughput.find((t) => t.config === k.config && t.mtu === k.mtu && t.protocol === p && t.streams === n);
      return x ? `${x.gbps.toFixed(3)} (${pctOf(x.fractionOfNative)})` : '-';
    }),
  ]);
  return { header, rows };
}

/** MPI side by side: one row per message size, a column per configuration, for one mode and measure. */
export function mpiGrid(r: Report, mode: 'pingpong' | 'sendrecv', measure: 'latencyUs' | 'bandwidthMBs'): { header: string[]; rows: string[][] } {
  const xs = r.mpi.filter((x) => x.mode === mode);
  const configs = unique(xs.map((x) => x.config));
  const sizes = unique(xs.map((x) => x.sizeBytes));
  const header = ['size (B)', ...configs];
  const rows = sizes.map((s) => [String(s), ...configs.map((c) => xs.find((x) => x.config === c && x.sizeBytes === s)?.[measure].toFixed(measure === 'latencyUs' ? 1 : 1) ?? '-')]);
  return { header, rows };
}

/** The ablation of the VNET/P+ optimizations, side by side. */
export const ABLATION: readonly { readonly config: string; readonly what: string }[] = [
  { config: 'vnetp-10g', what: 'VNET/P' },
  { config: 'vnetp-10g+oi', what: '+ optimistic interrupts (§4.3)' },
  { config: 'vnetp-10g+ct', what: '+ cut-through (§4.4)' },
  { config: 'vnetp-10g+oi+ct', what: '+ both' },
  { config: 'vnetp+-10g', what: 'VNET/P+: both on the LWK host (§4.5)' },
];

/** The ablation side by side: one row per measure the report has, a column per configuration. */
export function ablationGrid(r: Report): { header: string[]; rows: string[][] } {
  const rows = ablationRows(r);
  const measures = unique(rows.map((x) => x.measure));
  const configs = ABLATION_CONFIGS.filter((c) => rows.some((x) => x.config === c));
  return {
    header: ['measure', ...configs],
    rows: measures.map((m) => [m, ...configs.map((c) => rows.find((x) => x.config === c && x.measure === m)?.value.toFixed(m.includes('Gbps') || m.includes('per') ? 3 : 1) ?? '-')]),
  };
}

/** The VNET/P+ ablation: VNET/P, each optimization of chapter 4 alone, both, and both on the LWK host. */
export const ABLATION_CONFIGS: readonly string[] = ABLATION.map((a) => a.config);
export const ABLATION_SIZE_BYTES = 64;
export const ABLATION_MTU = 1500;
/** The small-message MPI latency of the ablation. */
export const ABLATION_MPI_BYTES = 8;

export interface Chart {
  readonly file: string;
  readonly title: string;
  readonly spec: TopLevelSpec;
}

// Legend labels and axis labels are whole configuration names: never truncated.
const CONFIG = { labelLimit: 0 } as const;

export function rttChart(r: Report): Chart {
  const values = r.rtt.map((x) => ({ config: x.config, mtu: String(x.mtu), size: x.sizeBytes, rtt: x.rttUs }));
  return {
    file: 'rtt-by-size.svg',
    title: 'ICMP round-trip time by ICMP data size',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: 'ICMP round-trip time by data size (median of 3 pings)',
      width: 560,
      height: 340,
      data: { values },
      encoding: {
        // The domain is the sizes run: a nice log domain would start at 10.
        x: { field: 'size', type: 'quantitative', scale: { type: 'log', nice: false }, title: 'ICMP data size (bytes, log scale)' },
        y: { field: 'rtt', type: 'quantitative', title: 'round-trip time (µs)' },
        // More configurations than the default ten colours; the MTU is the dash.
        color: { field: 'config', type: 'nominal', title: 'configuration', legend: CONFIG, sort: null, scale: { scheme: 'tableau20' } },
      },
      // Lines and points as two layers, so the MTU legend shows dashes rather than points.
      layer: [
        { mark: 'line', encoding: { strokeDash: { field: 'mtu', type: 'nominal', title: 'MTU', sort: null } } },
        { mark: { type: 'point', filled: true }, encoding: { detail: { field: 'mtu', type: 'nominal' } } },
      ],
    },
  };
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const PROTOCOL_NAME = { tcp: 'TCP', udp: 'UDP' } as const;

export function throughputChart(r: Report): Chart {
  const values = r.throughput.map((x) => ({ config: x.config, mtu: String(x.mtu), protocol: `${PROTOCOL_NAME[x.protocol]}${x.streams === 2 ? ' bi-stream (per stream)' : ''}`, gbps: x.gbps }));
  return {
    file: 'throughput.svg',
    title: 'TCP and UDP throughput by configuration and MTU',
    spec: {
      $schema: SCHEMA,
      title: 'ttcp throughput by configuration and MTU',
      data: { values },
      facet: { column: { field: 'protocol', type: 'nominal', title: null, sort: ['UDP', 'TCP', 'TCP bi-stream (per stream)'] } },
      spec: {
        // A step per bar (configuration x MTU): a fixed width squeezes offset bars in a facet to hairlines.
        width: { step: 15 },
        height: 280,
        mark: 'bar',
        encoding: {
          x: { field: 'config', type: 'nominal', title: 'configuration', sort: null, axis: { ...CONFIG, labelAngle: -40 } },
          xOffset: { field: 'mtu', type: 'nominal', sort: null },
          y: { field: 'gbps', type: 'quantitative', title: 'goodput (Gbps)' },
          color: { field: 'mtu', type: 'nominal', title: 'MTU', sort: null },
        },
      },
      resolve: { scale: { x: 'independent' } },
    },
  };
}

const MODE_NAME = { pingpong: 'PingPong', sendrecv: 'SendRecv' } as const;

function mpiChart(r: Report, measure: 'latencyUs' | 'bandwidthMBs'): Chart {
  // Log scales: the 0-byte message is left out of the chart (it is in the tables).
  const values = r.mpi.filter((x) => x.sizeBytes > 0).map((x) => ({ config: x.config, mode: MODE_NAME[x.mode], size: x.sizeBytes, v: x[measure] }));
  const latency = measure === 'latencyUs';
  return {
    file: latency ? 'mpi-latency.svg' : 'mpi-bandwidth.svg',
    title: latency ? 'MPI latency by message size' : 'MPI bandwidth by message size',
    spec: {
      $schema: SCHEMA,
      title: latency ? 'IMB one-way latency by message size' : 'IMB bandwidth by message size',
      width: 560,
      height: 340,
      data: { values },
      encoding: {
        x: { field: 'size', type: 'quantitative', scale: { type: 'log', nice: false }, title: 'message size (bytes, log scale)' },
        y: { field: 'v', type: 'quantitative', scale: latency ? { type: 'log', nice: false } : {}, title: latency ? 'latency (µs, log scale)' : 'bandwidth (MB/s)' },
        color: { field: 'config', type: 'nominal', title: 'configuration', legend: CONFIG, sort: null, scale: { scheme: 'tableau20' } },
      },
      layer: [
        { mark: 'line', encoding: { strokeDash: { field: 'mode', type: 'nominal', title: 'IMB test', sort: null } } },
        { mark: { type: 'point', filled: true, size: 20 }, encoding: { detail: { field: 'mode', type: 'nominal' } } },
      ],
    },
  };
}

export const mpiLatencyChart = (r: Report): Chart => mpiChart(r, 'latencyUs');
export const mpiBandwidthChart = (r: Report): Chart => mpiChart(r, 'bandwidthMBs');

export function variabilityChart(r: Report): Chart {
  const values = r.variability.flatMap((x) => [
    { config: x.config, stat: 'p50', us: x.p50Us },
    { config: x.config, stat: 'p99', us: x.p99Us },
    { config: x.config, stat: 'max', us: x.maxUs },
  ]);
  const pings = [...new Set(r.variability.map((x) => x.pings))].join('/');
  return {
    file: 'variability.svg',
    title: 'Latency variability of the 64-byte ping train',
    spec: {
      $schema: SCHEMA,
      title: `Round trips of ${pings} 64-byte pings: median, 99th percentile, maximum`,
      width: 560,
      height: 300,
      data: { values },
      mark: 'bar',
      encoding: {
        x: { field: 'config', type: 'nominal', title: 'configuration', sort: null, axis: { ...CONFIG, labelAngle: -40 } },
        xOffset: { field: 'stat', type: 'nominal', sort: ['p50', 'p99', 'max'] },
        y: { field: 'us', type: 'quantitative', title: 'round-trip time (µs)' },
        color: { field: 'stat', type: 'nominal', title: 'statistic', sort: ['p50', 'p99', 'max'] },
      },
    },
  };
}

export function interruptsChart(r: Report): Chart {
  const workload = (x: Report['interrupts'][number]) => (x.workload === 'udp' ? `UDP stream, MTU ${x.mtu}` : 'ping train');
  const values = r.interrupts.flatMap((x) =>
    (
      [
        ['virtual per physical interrupt', x.virqPerPirq],
        ['premature EVIs per EVI raised', x.eviPrematureFraction],
        ['masked EVIs per EVI decided', x.eviMaskedFraction],
      ] as const
    ).flatMap(([measure, v]) => (v === null ? [] : [{ config: x.config, workload: workload(x), measure, v }])),
  );
  return {
    file: 'interrupts.svg',
    title: 'Interrupt accounting on the receiving host',
    spec: {
      $schema: SCHEMA,
      title: 'Interrupts on the receiving host (VNET/P family)',
      data: { values },
      facet: { column: { field: 'measure', type: 'nominal', title: null, sort: ['virtual per physical interrupt', 'premature EVIs per EVI raised', 'masked EVIs per EVI decided'], header: { labelLimit: 0 } } },
      spec: {
        width: { step: 12 },
        height: 240,
        mark: 'bar',
        encoding: {
          x: { field: 'config', type: 'nominal', title: 'configuration', sort: null, axis: { ...CONFIG, labelAngle: -40 } },
          xOffset: { field: 'workload', type: 'nominal', sort: null },
          y: { field: 'v', type: 'quantitative', title: null },
          color: { field: 'workload', type: 'nominal', title: 'workload', sort: null, legend: CONFIG },
        },
      },
      resolve: { scale: { x: 'independent', y: 'independent' } },
    },
  };
}

export function cpuChart(r: Report): Chart {
  const values = r.cpu.map((x) => ({ config: `${x.config} MTU ${x.mtu}`, side: x.side === 'tx' ? 'sender' : 'receiver', busy: x.busyFraction }));
  return {
    file: 'cpu.svg',
    title: 'CPU busy fraction during the TCP stream',
    spec: {
      $schema: SCHEMA,
      title: 'CPU busy fraction during the TCP stream (user + guest kernel + VMM)',
      width: 560,
      height: 280,
      data: { values },
      mark: 'bar',
      encoding: {
        x: { field: 'config', type: 'nominal', title: 'configuration', sort: null, axis: { ...CONFIG, labelAngle: -40 } },
        xOffset: { field: 'side', type: 'nominal', sort: ['sender', 'receiver'] },
        y: { field: 'busy', type: 'quantitative', title: 'busy fraction', axis: { format: '%' } },
        color: { field: 'side', type: 'nominal', title: 'host', sort: ['sender', 'receiver'] },
      },
    },
  };
}

/** One measure of the ablation, for every ablation configuration the report has. */
export interface AblationRow {
  readonly config: string;
  readonly measure: string;
  readonly value: number;
}

/** The ablation rows the report has (a configuration or measure not run is left out). */
export function ablationRows(r: Report): AblationRow[] {
  const m = ABLATION_MTU;
  const measures: [string, (config: string) => number | null | undefined][] = [
    [`ICMP round trip, ${ABLATION_SIZE_BYTES} B (µs)`, (c) => r.rtt.find((x) => x.config === c && x.mtu === m && x.sizeBytes === ABLATION_SIZE_BYTES)?.rttUs],
    [`UDP goodput, MTU ${m} (Gbps)`, (c) => r.throughput.find((x) => x.config === c && x.mtu === m && x.protocol === 'udp')?.gbps],
    [`TCP throughput, MTU ${m} (Gbps)`, (c) => r.throughput.find((x) => x.config === c && x.mtu === m && x.protocol === 'tcp' && x.streams === 1)?.gbps],
    [`MPI PingPong latency, ${ABLATION_MPI_BYTES} B (µs)`, (c) => r.mpi.find((x) => x.config === c && x.mode === 'pingpong' && x.sizeBytes === ABLATION_MPI_BYTES)?.latencyUs],
    ['ping train p99 (µs)', (c) => r.variability.find((x) => x.config === c)?.p99Us],
    [`virtual per physical interrupt (UDP, MTU ${m})`, (c) => r.interrupts.find((x) => x.config === c && x.workload === 'udp' && x.mtu === m)?.virqPerPirq],
  ];
  return measures.flatMap(([measure, get]) =>
    ABLATION_CONFIGS.flatMap((config) => {
      const v = get(config);
      return v === undefined || v === null ? [] : [{ config, measure, value: v }];
    }),
  );
}

export function ablationChart(r: Report): Chart {
  const values = ablationRows(r);
  return {
    file: 'vnetp-plus-ablation.svg',
    title: 'VNET/P+ ablation: each optimization alone and together',
    spec: {
      $schema: SCHEMA,
      title: 'VNET/P+ ablation: VNET/P, each optimization alone, both, and both on the LWK host',
      data: { values },
      facet: { field: 'measure', type: 'nominal', title: null, sort: unique(values.map((x) => x.measure)), header: { labelLimit: 0 } },
      columns: 3,
      spec: {
        width: 200,
        height: 200,
        mark: 'bar',
        encoding: {
          x: { field: 'config', type: 'nominal', title: null, sort: null, axis: { ...CONFIG, labelAngle: -40 } },
          y: { field: 'value', type: 'quantitative', title: null },
          color: { field: 'config', type: 'nominal', title: 'configuration', sort: null, legend: null },
        },
      },
      // Every panel labels its configurations.
      resolve: { scale: { y: 'independent' }, axis: { x: 'independent' } },
    },
  };
}

/** The charts of the sections that have rows, in the order report.md shows them. */
export function charts(r: Report): Chart[] {
  const out: Chart[] = [];
  if (r.rtt.length) out.push(rttChart(r));
  if (r.throughput.length) out.push(throughputChart(r));
  if (r.mpi.length) out.push(mpiLatencyChart(r), mpiBandwidthChart(r));
  if (r.variability.length) out.push(variabilityChart(r));
  if (r.interrupts.length) out.push(interruptsChart(r));
  if (r.cpu.length) out.push(cpuChart(r));
  if (ablationRows(r).length) out.push(ablationChart(r));
  return out;
}

/** Renders a vega-lite spec to an SVG document with vega's headless renderer. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

// Markdown table cells: a `|` in a figure name would split the cell.
const cell = (s: string) => s.replace(/\|/g, '\\|');

/** A Markdown table; the columns numbered in `left` are left-aligned, the others (numbers) right-aligned. */
function mdTable(header: readonly string[], rows: readonly (readonly string[])[], left: readonly number[] = [0]): string[] {
  const align = header.map((_, i) => (left.includes(i) ? '---' : '---:'));
  const line = (r: readonly string[]) => `| ${r.map(cell).join(' | ')} |`;
  return [line(header), `|${align.join('|')}|`, ...rows.map(line)];
}


export interface ReportContext {
  /** Configuration ids that run nothing yet. */
  readonly planned: readonly string[];
  /** Experiments whose sections are empty. */
  readonly notModelled: readonly string[];
  /** The fitted cost values (name = value). */
  readonly fittedValues: Readonly<Record<string, number>>;
  /** The workloads each runnable configuration has (report section names) and its MTUs. */
  readonly workloads: readonly { readonly config: string; readonly mtus: readonly number[]; readonly workloads: readonly string[]; readonly native?: string }[];
  /** What `--quick` leaves out. */
  readonly quickNotice: string;
}

const fixed = (x: number | null | undefined, digits: number) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));

export function reportMarkdown(r: Report, ctx: ReportContext, chartList: readonly Chart[]): string {
  const out: string[] = [];
  const chart = (file: string) => {
    const c = chartList.find((x) => x.file === file);
    if (c) out.push('', `![${c.title}](${c.file})`);
  };
  const none = (what: string) => out.push(`No ${what} rows: no configuration runs this workload yet.`);
  out.push('# vnet-model report', '');
  out.push(`Seed ${r.seed}; virtual time; costs calibrated in model/calibration.json. The same data as \`vnet-model report --json\`.`, '');
  if (r.quick) out.push(`> ${ctx.quickNotice}`, '');

  out.push('## Calibration', '');
  out.push('Measured figures from the dissertation against the model; only rows marked fitted were used to fit costs.', '');
  out.push(
    ...mdTable(
      ['figure', 'measured', 'model', 'error', 'fitted'],
      r.calibration.map((f) => [f.figure + (f.note ? ` (${f.note})` : ''), String(f.measured), fixed(f.model, 2), pctOf(f.error), f.fitted ? 'yes' : 'no']),
      [0, 4],
    ),
  );
  out.push('', `Fitted values: ${Object.entries(ctx.fittedValues).map(([k, v]) => `\`${k}=${v}\``).join(', ')}.`, '');

  out.push('## Configurations and workloads', '');
  out.push('Which experiments each configuration runs (a configuration has rows only for these; interrupts apply to the VNET/P family), and the native configuration its throughput is a fraction of.', '');
  out.push(...mdTable(['configuration', 'MTUs', 'workloads', 'throughput compared with'], ctx.workloads.map((w) => [w.config, w.mtus.join(', '), w.workloads.join(', '), w.native ?? '-']), [0, 2, 3]));
  out.push('');

  out.push('## ICMP round-trip time', '');
  out.push('Round-trip time (µs) by ICMP data size (bytes), median of 3 pings.', '');
  const series = [...new Map(r.rtt.map((x) => [`${x.config}@${x.mtu}`, x] as const)).values()];
  const sizes = unique(r.rtt.map((x) => x.sizeBytes));
  const at = (config: string, mtu: number, size: number) => r.rtt.find((x) => x.config === config && x.mtu === mtu && x.sizeBytes === size)?.rttUs;
  if (series.length) out.push(...mdTable(['configuration', 'MTU', ...sizes.map(String)], series.map((x) => [x.config, String(x.mtu), ...sizes.map((s) => fixed(at(x.config, x.mtu, s), 1))])));
  else none('round-trip');
  chart('rtt-by-size.svg');

  out.push('', '## Throughput', '');
  out.push('ttcp with 64000-byte writes; payload received whole per second of virtual time (Gbps; per stream for bi-stream, one connection each way), and in parentheses its fraction of the native configuration on the same link (same MTU where it runs at it; see the table above).', '');
  const tg = throughputGrid(r);
  if (tg.rows.length) out.push(...mdTable(tg.header, tg.rows));
  else none('throughput');
  chart('throughput.svg');

  out.push('', '## MPI', '');
  if (r.mpi.length) {
    out.push(
      "IMB PingPong and SendRecv at each configuration's largest MTU: latency (µs; PingPong half the round trip) and bandwidth (MB/s, MB = 2^20 bytes) by message size, with short repetition counts (IMB's own would take hours of wall time; the model is deterministic). Ethernet configurations at 10 Gbps only, as in the dissertation.",
    );
    for (const mode of ['pingpong', 'sendrecv'] as const) {
      if (!r.mpi.some((x) => x.mode === mode)) continue;
      const name = mode === 'pingpong' ? 'PingPong' : 'SendRecv';
      for (const [measure, unit] of [['latencyUs', 'latency (µs)'], ['bandwidthMBs', 'bandwidth (MB/s)']] as const) {
        const g = mpiGrid(r, mode, measure);
        out.push('', `### ${name} ${unit}`, '', ...mdTable(g.header, g.rows));
      }
    }
  } else none('MPI');
  chart('mpi-latency.svg');
  chart('mpi-bandwidth.svg');

  out.push('', '## Latency variability', '');
  out.push('A train of 64-byte pings, one after another (1 ms apart); round-trip time (µs) read from the recorded stream.', '');
  if (r.variability.length) {
    out.push(
      ...mdTable(
        ['configuration', 'MTU', 'pings', 'p50', 'p99', 'max', 'max/p50'],
        r.variability.map((x) => [x.config, String(x.mtu), String(x.pings), x.p50Us.toFixed(1), x.p99Us.toFixed(1), x.maxUs.toFixed(1), (x.maxUs / x.p50Us).toFixed(2)]),
      ),
    );
  } else none('variability');
  chart('variability.svg');

  out.push('', '## Interrupts', '');
  out.push(
    'On the receiving host of a UDP stream and of the ping train, read from the recorded trace: physical interrupts are the host NIC\'s; virtual interrupts are those delivered to the guest (plain VNET/P: the receive ring\'s notification; with optimistic interrupts: those the guest line takes). Premature: EVI handler runs that found the ring empty, per EVI raised; masked: EVIs discarded because the guest line was masked, per EVI decided (- without EVIs).',
    '',
  );
  if (r.interrupts.length) {
    out.push(
      ...mdTable(
        ['configuration', 'workload', 'physical', 'virtual', 'virtual per physical', 'EVIs decided', 'EVIs raised', 'premature', 'masked'],
        r.interrupts.map((x) => [
          x.config,
          x.workload === 'udp' ? `UDP stream, MTU ${x.mtu}` : 'ping train',
          String(x.physical),
          String(x.virtual),
          fixed(x.virqPerPirq, 3),
          String(x.eviDecided),
          String(x.eviRaised),
          pctOf(x.eviPrematureFraction),
          pctOf(x.eviMaskedFraction),
        ]),
        [0, 1],
      ),
    );
  } else none('interrupt');
  chart('interrupts.svg');

  out.push('', '## CPU', '');
  if (r.cpu.length) {
    out.push('Busy fraction of each host during the TCP stream (user + guest kernel + VMM over wall time; the cores of a host summed, so 100% is one core busy).', '');
    const keys = [...new Map(r.cpu.map((x) => [`${x.config}@${x.mtu}`, x] as const)).values()];
    const busy = (c: string, m: number, side: 'tx' | 'rx') => r.cpu.find((x) => x.config === c && x.mtu === m && x.side === side)?.busyFraction ?? null;
    out.push(...mdTable(['configuration', 'MTU', 'sender', 'receiver'], keys.map((x) => [x.config, String(x.mtu), pctOf(busy(x.config, x.mtu, 'tx')), pctOf(busy(x.config, x.mtu, 'rx'))])));
  } else none('CPU');
  chart('cpu.svg');

  out.push('', '## HPCC', '');
  if (r.hpcc.length) {
    out.push('HPCC-style ping-pong between host pairs and natural ring (model/hpcc.ts, short plans), at each configuration\'s largest MTU; latency (µs) and bandwidth (MB/s, MB = 10^6 bytes).', '');
    out.push(
      ...mdTable(
        ['configuration', 'MTU', 'hosts', 'ping-pong latency', 'ping-pong bandwidth', 'ring latency', 'ring bandwidth'],
        r.hpcc.map((x) => [x.config, String(x.mtu), String(x.hosts), x.pingPongLatencyUs.toFixed(1), x.pingPongBandwidthMBs.toFixed(1), x.ringLatencyUs.toFixed(1), x.ringBandwidthMBs.toFixed(1)]),
      ),
    );
  } else out.push(r.quick ? 'Not run by `--quick` (it is the longest experiment); run the full report.' : 'No HPCC rows: no configuration runs this workload yet.');

  out.push('', '## VNET/P+ ablation', '');
  out.push(
    `Each optimization of chapter 4 alone and together, at MTU ${ABLATION_MTU} (oi: optimistic interrupts, §4.3; ct: cut-through forwarding, §4.4; vnetp+ adds the lightweight-kernel host, §4.5). Predictions: nothing is fitted to VNET/P+.`,
    '',
  );
  const ab = ablationGrid(r);
  if (ab.rows.length) out.push(...mdTable(ab.header, ab.rows));
  else none('ablation');
  chart('vnetp-plus-ablation.svg');

  if (r.failures.length) {
    out.push('', '## Failed runs', '');
    out.push('These runs threw; the report has no rows for them.', '');
    out.push(...mdTable(['section', 'run', 'error'], r.failures.map((f) => [f.section, f.run, f.error]), [0, 1, 2]));
  }

  out.push('', '## Not run yet', '');
  if (!ctx.planned.length && !ctx.notModelled.length) out.push('Every configuration runs at least one workload, and every experiment has runs.');
  if (ctx.planned.length) {
    out.push('Configurations that run nothing yet (see docs/configurations.md):', '');
    for (const id of ctx.planned) out.push(`- ${id}`);
    out.push('');
  }
  if (ctx.notModelled.length) {
    out.push('Experiments not modelled yet (empty in `--json`):', '');
    for (const e of ctx.notModelled) out.push(`- ${e}`);
  }
  return out.join('\n') + '\n';
}

/** Every chart file a report may write (and, formerly, `udp-goodput.svg`). */
export const CHART_FILES: readonly string[] = [
  'rtt-by-size.svg',
  'throughput.svg',
  'mpi-latency.svg',
  'mpi-bandwidth.svg',
  'variability.svg',
  'interrupts.svg',
  'cpu.svg',
  'vnetp-plus-ablation.svg',
  'udp-goodput.svg',
];

/**
 * Writes `dir/report.md` and its charts; returns the paths written, report.md first. A chart file
 * of an earlier report that this one does not draw (its section is empty now) is removed, so the
 * folder holds what report.md references; no other file is touched.
 */
export async function writeReportFolder(dir: string, r: Report, ctx: ReportContext): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  for (const f of CHART_FILES) {
    const stale = join(dir, f);
    if (!charts(r).some((c) => c.file === f) && existsSync(stale)) rmSync(stale);
  }
  const list = charts(r);
  const written = [join(dir, 'report.md')];
  const svgs: string[] = [];
  for (const c of list) svgs.push(await renderSvg(c.spec));
  writeFileSync(written[0], reportMarkdown(r, ctx, list));
  list.forEach((c, i) => {
    const file = join(dir, c.file);
    writeFileSync(file, svgs[i] + '\n');
    written.push(file);
  });
  return written;
}
