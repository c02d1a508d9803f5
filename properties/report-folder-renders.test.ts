/**
 * `vnet-model report --out DIR` writes a folder that renders: report.md references every chart it
 * wrote and each reference is a file there; each chart is an SVG document (well-formed XML, `<svg>`
 * root) whose text names the configurations it plots; the Markdown carries the document's rows; and
 * the same seed writes the same bytes.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildReport, reportContext, type Report } from '../cli/commands/report.js';
import { ABLATION_CONFIGS, writeReportFolder } from '../cli/report-output.js';

const SEED = 7;
let root: string;
let report: Report;
let dirA: string;
let dirB: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'vnet-report-'));
  report = buildReport({ quick: true, seed: SEED });
  dirA = join(root, 'a');
  // A second report of the same seed, so determinism covers the run and the rendering.
  dirB = join(root, 'b', 'nested');
  await writeReportFolder(dirA, report, reportContext());
  await writeReportFolder(dirB, buildReport({ quick: true, seed: SEED }), reportContext());
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
    expect(files.length).toBe(3);
    expect(refs).toEqual(files);
  });

  test('each chart is an <svg> document naming the configurations it plots', () => {
    const built = [...new Set(report.rtt.map((x) => x.config))];
    const expected: Record<string, readonly string[]> = {
      'rtt-by-size.svg': built,
      'udp-goodput.svg': [...new Set(report.throughput.map((x) => x.config))],
      'vnetp-plus-ablation.svg': ABLATION_CONFIGS,
    };
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
    for (const x of report.throughput) expect(md).toContain(`| ${x.config} | ${x.mtu} | ${x.gbps.toFixed(3)} |`);
    for (const id of [...ctx.planned, ...ctx.notModelled]) expect(md).toContain(`- ${id}\n`);
    expect(md).toContain(`Seed ${SEED};`);
  });

  test('the same seed writes byte-identical files', () => {
    const files = readdirSync(dirA).sort();
    expect(readdirSync(dirB).sort()).toEqual(files);
    for (const f of files) expect(readFileSync(join(dirB, f)).equals(readFileSync(join(dirA, f))), f).toBe(true);
  });
});
