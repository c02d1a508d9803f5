/**
 * The report as a folder: `report.md` (the tables of the `--json` document in Markdown) and the
 * SVG charts it references, drawn with vega-lite compiled to vega and rendered headless (no canvas,
 * no network). Everything written is derived from a `Report`; the same report gives the same bytes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import type { Report } from './commands/report.js';

/** The VNET/P+ ablation: VNET/P, each optimization of chapter 4 alone, both, and both on the LWK host. */
export const ABLATION_CONFIGS = ['vnetp-10g', 'vnetp-10g+oi', 'vnetp-10g+ct', 'vnetp-10g+oi+ct', 'vnetp+-10g'] as const;
export const ABLATION_SIZE_BYTES = 64;
export const ABLATION_MTU = 1500;

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

export function goodputChart(r: Report): Chart {
  const values = r.throughput.map((x) => ({ config: x.config, mtu: String(x.mtu), gbps: x.gbps }));
  return {
    file: 'udp-goodput.svg',
    title: 'UDP goodput by configuration and MTU',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: 'UDP goodput (ttcp) by configuration and MTU',
      width: 560,
      height: 300,
      data: { values },
      mark: 'bar',
      encoding: {
        x: { field: 'config', type: 'nominal', title: 'configuration', sort: null, axis: { ...CONFIG, labelAngle: -40 } },
        xOffset: { field: 'mtu', type: 'nominal', sort: null },
        y: { field: 'gbps', type: 'quantitative', title: 'goodput (Gbps)' },
        color: { field: 'mtu', type: 'nominal', title: 'MTU', sort: null },
      },
    },
  };
}

/** The ablation rows the report has (a configuration not built or not run is left out). */
export function ablationRows(r: Report): { config: string; rttUs: number }[] {
  return ABLATION_CONFIGS.flatMap((config) => {
    const row = r.rtt.find((x) => x.config === config && x.mtu === ABLATION_MTU && x.sizeBytes === ABLATION_SIZE_BYTES);
    return row ? [{ config, rttUs: row.rttUs }] : [];
  });
}

export function ablationChart(r: Report): Chart {
  return {
    file: 'vnetp-plus-ablation.svg',
    title: `VNET/P+ ablation: ${ABLATION_SIZE_BYTES}-byte round-trip time`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: `VNET/P+ ablation: ${ABLATION_SIZE_BYTES}-byte ICMP round trip, MTU ${ABLATION_MTU}`,
      width: 360,
      height: 260,
      data: { values: ablationRows(r) },
      mark: 'bar',
      encoding: {
        x: { field: 'config', type: 'nominal', title: 'configuration', sort: null, axis: { ...CONFIG, labelAngle: -30 } },
        y: { field: 'rttUs', type: 'quantitative', title: 'round-trip time (µs)' },
      },
    },
  };
}

export function charts(r: Report): Chart[] {
  return [rttChart(r), goodputChart(r), ablationChart(r)];
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

const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '-');

export interface ReportContext {
  /** Configuration ids not assembled yet. */
  readonly planned: readonly string[];
  /** Experiments whose sections are empty. */
  readonly notModelled: readonly string[];
  /** The fitted cost values (name = value). */
  readonly fittedValues: Readonly<Record<string, number>>;
}

export function reportMarkdown(r: Report, ctx: ReportContext, chartList: readonly Chart[]): string {
  const out: string[] = [];
  const img = (c: Chart) => `![${c.title}](${c.file})`;
  const [rtt, goodput, ablation] = chartList;
  out.push('# vnet-model report', '');
  out.push(`Seed ${r.seed}; virtual time; costs calibrated in model/calibration.json. The same data as \`vnet-model report --json\`.`, '');

  out.push('## Calibration', '');
  out.push('Measured figures from the dissertation against the model; only rows marked fitted were used to fit costs.', '');
  out.push(
    ...mdTable(
      ['figure', 'measured', 'model', 'error', 'fitted'],
      r.calibration.map((f) => [f.figure + (f.note ? ` (${f.note})` : ''), String(f.measured), f.model.toFixed(2), pct(f.error), f.fitted ? 'yes' : 'no']),
      [0, 4],
    ),
  );
  out.push('', `Fitted values: ${Object.entries(ctx.fittedValues).map(([k, v]) => `\`${k}=${v}\``).join(', ')}.`, '');

  out.push('## ICMP round-trip time', '');
  out.push('Round-trip time (µs) by ICMP data size (bytes), median of 3 pings.', '');
  const series = [...new Map(r.rtt.map((x) => [`${x.config}@${x.mtu}`, x] as const)).values()];
  const sizes = [...new Set(r.rtt.map((x) => x.sizeBytes))];
  const at = (config: string, mtu: number, size: number) => r.rtt.find((x) => x.config === config && x.mtu === mtu && x.sizeBytes === size)?.rttUs;
  out.push(
    ...mdTable(
      ['configuration', 'MTU', ...sizes.map(String)],
      series.map((x) => [x.config, String(x.mtu), ...sizes.map((s) => at(x.config, x.mtu, s)?.toFixed(1) ?? '-')]),
    ),
  );
  if (rtt) out.push('', img(rtt));
  if (ablation) {
    out.push('', '### VNET/P+ ablation', '');
    out.push(`${ABLATION_SIZE_BYTES}-byte round trip at MTU ${ABLATION_MTU} as the VNET/P+ optimizations are added (oi: optimistic interrupts, §4.3; ct: cut-through forwarding, §4.4; vnetp+ adds the lightweight-kernel host).`, '');
    out.push(...mdTable(['configuration', 'RTT (µs)'], ablationRows(r).map((x) => [x.config, x.rttUs.toFixed(1)])));
    out.push('', img(ablation));
  }

  out.push('', '## UDP goodput', '');
  out.push('ttcp with 64000-byte writes; payload received whole per second of virtual time, and its fraction of native on the same link and MTU.', '');
  out.push(
    ...mdTable(
      ['configuration', 'MTU', 'Gbps', 'of native'],
      r.throughput.map((x) => [x.config, String(x.mtu), x.gbps.toFixed(3), pct(x.fractionOfNative)]),
    ),
  );
  if (goodput) out.push('', img(goodput));

  out.push('', '## Not built yet', '');
  out.push('Configurations not assembled yet (see docs/configurations.md):', '');
  for (const id of ctx.planned) out.push(`- ${id}`);
  out.push('', 'Experiments not modelled yet (empty in `--json`):', '');
  for (const e of ctx.notModelled) out.push(`- ${e}`);
  return out.join('\n') + '\n';
}

/** Writes `dir/report.md` and its charts; returns the paths written, report.md first. */
export async function writeReportFolder(dir: string, r: Report, ctx: ReportContext): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
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
