/**
 * `vnet-model report --out DIR` writes a folder that renders: report.md references every chart it
 * wrote and each reference is a file there; a chart for every section with rows; each chart is an
 * SVG document (well-formed XML, `<svg>` root) whose text names the configurations it plots; the
 * Markdown carries the document's rows; and the same report writes the same bytes. (That the same
 * seed gives the same report is model-report-same-seed-same-report.test.ts.)
 *
 * The folder is written from a small real report (round trips and the ping train, so interrupt
 * rows too) completed with made-up rows for the sections whose runs take long (throughput, MPI,
 * CPU): rendering depends on the rows, not on how they were measured.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildReport, reportContext, type Report } from '../cli/commands/report.js';
import { ABLATION_CONFIGS, writeReportFolder } from '../cli/report-output.js';

// A native, a plain VNET/P and two optimized configurations, narrow scope.
const CONFIGS = ['native-10g', 'vnetp-10g', 'vnetp-10g+oi', 'vnetp+-10g'];
const SCOPE = { pingSizes: [64, 1024], pingTrain: 10 };

/** The real report completed with rows for throughput (TCP, UDP, bi-stream), MPI and CPU. */
function completed(r: Report): Report {
  const k = (config: string) => CONFIGS.indexOf(config) + 1;
  const throughput = CONFIGS.flatMap((config) =>
    [1500, 9000].flatMap((mtu) =>
      (['udp', 'tcp'] as const).map((protocol) => ({ config, mtu, protocol, streams: 1 as const, gbps: (mtu / 1000) * (protocol === 'udp' ? 0.9 : 0.8) / k(config), fractionOfNative: 1 / k(config) })),
    ),
  );
  const mpi = CONFIGS.flatMap((config) =>
    (['pingpong', 'sendrecv'] as const).flatMap((mode) =>
      [0, 8, 4096, 1048576].map((sizeBytes) => ({ config, mtu: 9000, mode, sizeBytes, latencyUs: 30 * k(config) + sizeBytes / 400, bandwidthMBs: sizeBytes / (30 * k(config) + sizeBytes / 400) })),
    ),
  );
  const cpu = CONFIGS.flatMap((config) => (['tx', 'rx'] as const).map((side) => ({ config, mtu: 1500, side, busyFraction: 0.2 * k(config) + (side === 'rx' ? 0.1 : 0) })));
  return { ...r, throughput: [...throughput, { config: 'native-10g', mtu: 9000, protocol: 'tcp', streams: 2, gbps: 3, fractionOfNative: 1 }], mpi, cpu };
}

const SEED = 7;
let root: string;
let report: Report;
let dirA: string;
let dirB: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'vnet-report-'));
  report = completed(buildReport({ quick: true, seed: SEED, configs: CONFIGS, scope: SCOPE, sections: ['rtt', 'variability'] }));
  dirA = join(root, 'a');
  // A folder an earlier report wrote: a chart this report does not draw, and a file of the user's.
  mkdirSync(dirA);
  writeFileSync(join(dirA, 'udp-goodput.svg'), '<svg/>');
  writeFileSync(join(dirA, 'notes.txt'), 'mine');
  // The same report written again, into a folder that does not exist yet.
  dirB = join(root, 'b', 'nested');
  await writeReportFolder(dirA, report, reportContext());
  await writeReportFolder(dirB, structuredClone(report), reportContext());
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Every text string in a parsed XML tree. */
function texts(node: unknown, out: string[] = []): string[] {
  if (typeof node === 'string' || typeof node === 'number') out.push(String(node));
  else if (Array.isArray(node)) for (const n of node) texts(n, out);
  else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) if (!k.startsWith('@_')) texts(v, out);
  return out;
}

const svgFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.svg')).sort();

describe('report folder', () => {
  test('report.md references exactly the SVG files written, and each reference exists', () => {
    const md = readFileSync(join(dirA, 'report.md'), 'utf8');
    const refs = [...md.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1]).sort();
    const files = svgFiles(dirA);
    expect(refs).toEqual(files);
  });

  test('each chart is an <svg> document naming the configurations it plots', () => {
    const configsOf = (rows: readonly { config: string }[]) => [...new Set(rows.map((x) => x.config))];
    const expected: Record<string, readonly string[]> = {
      'rtt-by-size.svg': configsOf(report.rtt),
      'throughput.svg': configsOf(report.throughput),
      'variability.svg': configsOf(report.variability),
      'interrupts.svg': configsOf(report.interrupts),
      'vnetp-plus-ablation.svg': ABLATION_CONFIGS.filter((c) => CONFIGS.includes(c)),
      'cpu.svg': [],
      'mpi-latency.svg': configsOf(report.mpi),
      'mpi-bandwidth.svg': configsOf(report.mpi),
    };
    for (const [file, names] of Object.entries(expected)) if (file !== 'cpu.svg') expect(names.length, file).toBeGreaterThan(0);
    expect(Object.keys(expected).sort()).toEqual(svgFiles(dirA));
    for (const [file, names] of Object.entries(expected)) {
      const svg = readFileSync(join(dirA, file), 'utf8');
      expect(XMLValidator.validate(svg), file).toBe(true);
      const doc = new XMLParser({ ignoreAttributes: false }).parse(svg) as Record<string, unknown>;
      expect(Object.keys(doc), file).toEqual(['svg']);
      const text = new Set(texts(doc.svg));
      for (const name of names) expect(text.has(name), `${file} has no text "${name}"`).toBe(true);
    }
  });

  test('report.md carries the rows of the document', () => {
    const md = readFileSync(join(dirA, 'report.md'), 'utf8');
    const ctx = reportContext();
    for (const f of report.calibration) expect(md).toContain(`| ${f.figure.replace(/\|/g, '\\|')}`);
    for (const x of report.rtt) expect(md).toContain(`| ${x.config} | ${x.mtu} |`);
    // Throughput side by side: the configuration's row has each of its figures.
    const lines = md.split('\n');
    for (const x of report.throughput) expect(lines.some((l) => l.startsWith(`| ${x.config} |`) && l.includes(`| ${x.gbps.toFixed(3)} (`)), `${x.config} ${x.protocol} ${x.mtu}`).toBe(true);
    for (const x of report.variability) expect(md).toContain(`| ${x.config} | ${x.mtu} | ${x.pings} | ${x.p50Us.toFixed(1)} | ${x.p99Us.toFixed(1)} | ${x.maxUs.toFixed(1)} |`);
    for (const x of report.interrupts) expect(md).toContain(`| ${x.config} | ${x.workload === 'udp' ? `UDP stream, MTU ${x.mtu}` : 'ping train'} | ${x.physical} | ${x.virtual} |`);
    for (const w of ctx.workloads) expect(md).toContain(`| ${w.config} | ${w.mtus.join(', ')} | ${w.workloads.join(', ')} |`);
    // MPI side by side: a row per size with each configuration's figure.
    for (const x of report.mpi) expect(lines.some((l) => l.startsWith(`| ${x.sizeBytes} |`) && l.includes(`| ${x.latencyUs.toFixed(1)} |`)), `${x.config} ${x.mode} ${x.sizeBytes}`).toBe(true);
    for (const x of report.cpu) expect(lines.some((l) => l.startsWith(`| ${x.config} | ${x.mtu} |`) && l.includes(`${(x.busyFraction * 100).toFixed(1)}%`))).toBe(true);
    for (const f of report.failures) expect(md).toContain(f.run);
    for (const id of [...ctx.planned, ...ctx.notModelled]) expect(md).toContain(`- ${id}\n`);
    expect(md).toContain(ctx.quickNotice);
    expect(md).toContain(`Seed ${SEED};`);
  });

  test('a stale chart of an earlier report is removed; other files are kept', () => {
    expect(readdirSync(dirA)).not.toContain('udp-goodput.svg');
    expect(readFileSync(join(dirA, 'notes.txt'), 'utf8')).toBe('mine');
  });

  test('the same report writes byte-identical files', () => {
    const files = readdirSync(dirA)
      .filter((f) => f !== 'notes.txt')
      .sort();
    expect(readdirSync(dirB).sort()).toEqual(files);
    for (const f of files) expect(readFileSync(join(dirB, f)).equals(readFileSync(join(dirA, f))), f).toBe(true);
  });
});
