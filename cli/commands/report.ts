/**
 * `vnet-model report`: runs every experiment the system model has over every configuration that
 * can run it (model/experiments.ts), with the calibrated costs (model/calibration.json), and prints
 * the calibration figures (measured, model, error) and the results side by side: ICMP round trips
 * by size, TCP and UDP throughput by MTU, MPI latency and bandwidth, latency variability of a ping
 * train, interrupt accounting of the VNET/P family, CPU use. `--json` prints one
 * `vnet-model/report@1` document instead; `--out DIR` also writes DIR/report.md and its SVG charts
 * (cli/report-output.ts). Progress goes to stderr, never into the document.
 */
import { basename } from 'node:path';
import { calibrationRecord } from '../../model/calibrated-costs.js';
import { evaluateCalibration, evaluateThroughputCalibration, type FigureResult } from '../../model/calibration.js';
import { configurations } from '../../model/configurations.js';
import { evaluateIbCalibration, ibCalibratedCosts, ibCalibrationRecord } from '../../model/ib-calibration.js';
import type { Costs } from '../../model/costs.js';
import { runnableConfigurations, ttcpDurationNs, workloadsOf, type ConfigurationRunners } from '../../model/experiments.js';
import { interruptFractions, type InterruptCounts } from '../../model/interrupts.js';
import { PING_SIZES, PING_SIZES_QUICK } from '../../model/ping.js';
import { TCP_DURATION_NS, TCP_DURATION_QUICK_NS } from '../../model/tcp.js';
import { VARIABILITY_PINGS, VARIABILITY_PINGS_QUICK, VARIABILITY_SIZE_BYTES } from '../../model/variability.js';
import { intOption, parseArgs, UsageError, type Command } from '../command.js';
import { ablationGrid, mpiGrid, throughputGrid, writeReportFolder, type ReportContext } from '../report-output.js';

export interface RttRow {
  readonly config: string;
  readonly mtu: number;
  readonly sizeBytes: number;
  readonly rttUs: number;
}

/**
 * ttcp goodput (payload received whole per second; per stream for a bi-stream run) and its fraction
 * of the native configuration on the same link (same MTU and streams; null: no native run).
 */
export interface ThroughputRow {
  readonly config: string;
  readonly mtu: number;
  readonly protocol: 'tcp' | 'udp';
  /** 1: one stream A to B; 2: bi-stream, one connection each way (TCP only). */
  readonly streams: 1 | 2;
  readonly gbps: number;
  readonly fractionOfNative: number | null;
}

export interface MpiRow {
  readonly config: string;
  readonly mtu: number;
  readonly mode: 'pingpong' | 'sendrecv';
  readonly sizeBytes: number;
  readonly latencyUs: number;
  readonly bandwidthMBs: number;
}

/** Interrupts on the receiving host of a UDP stream or a ping train (model/interrupts.ts); fractions null when undefined (no EVIs). */
export interface InterruptRow {
  readonly config: string;
  readonly workload: 'udp' | 'ping';
  readonly mtu: number;
  readonly virqPerPirq: number | null;
  readonly eviPrematureFraction: number | null;
  readonly eviMaskedFraction: number | null;
  readonly physical: number;
  readonly virtual: number;
  readonly eviDecided: number;
  readonly eviRaised: number;
}

/** Round trips of the 64-byte ping train (model/variability.ts). */
export interface VariabilityRow {
  readonly config: string;
  readonly mtu: number;
  readonly pings: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
}

/** Busy fraction of a host's CPU during the TCP stream (user + guest kernel + VMM over wall time). */
export interface CpuRow {
  readonly config: string;
  readonly mtu: number;
  readonly side: 'tx' | 'rx';
  readonly busyFraction: number;
}

/** HPCC ping-pong (between host pairs) and natural ring over `hosts` hosts; MB = 10^6 bytes. */
export interface HpccRow {
  readonly config: string;
  readonly mtu: number;
  readonly hosts: number;
  readonly pingPongLatencyUs: number;
  readonly pingPongBandwidthMBs: number;
  readonly ringLatencyUs: number;
  readonly ringBandwidthMBs: number;
}

export interface CalibrationRow {
  readonly figure: string;
  readonly measured: number;
  readonly model: number;
  readonly error: number;
  readonly fitted: boolean;
  readonly note?: string;
}

export interface Report {
  readonly schema: 'vnet-model/report@1';
  readonly seed: number;
  /** Fewer and shorter experiments (`--quick`, see `quickNotice`). */
  readonly quick: boolean;
  readonly calibration: readonly CalibrationRow[];
  readonly rtt: readonly RttRow[];
  readonly throughput: readonly ThroughputRow[];
  readonly mpi: readonly MpiRow[];
  readonly interrupts: readonly InterruptRow[];
  readonly variability: readonly VariabilityRow[];
  readonly cpu: readonly CpuRow[];
  /** HPCC (beyond the issue's sections; full report only). */
  readonly hpcc: readonly HpccRow[];
  /** Runs that threw (their rows are missing), with the first line of the error. */
  readonly failures: readonly FailedRun[];
}

export interface FailedRun {
  readonly section: string;
  readonly run: string;
  readonly error: string;
}

/** How much each experiment runs, full or `--quick`. */
export interface Scope {
  readonly pingSizes: readonly number[];
  /** UDP and TCP measurement windows (ns of virtual time; the runners choose them from `quick`). */
  readonly ttcpWindowNs: number;
  readonly tcpWindowNs: number;
  readonly pingTrain: number;
  readonly mpiSizes: readonly number[];
  /** Hosts of the HPCC runs, or 0: not run. */
  readonly hpccHosts: number;
}

/**
 * IMB message sizes (bytes): 0 and powers of eight to 1 MB (IMB's own list, every power of two to
 * 4 MB, would take most of the report's time for little more shape); `--quick` three of them.
 */
export const MPI_SIZES: readonly number[] = [0, 8, 64, 512, 4096, 32768, 262144, 1048576];
export const MPI_SIZES_QUICK: readonly number[] = [8, 1024, 16384];
/**
 * MPI runs use the runners' short repetition counts (`quick`) in the full report too: IMB's own
 * (up to 1000 repetitions and 40 MB a size) take hours of wall time over the model's TCP; the model
 * is deterministic, so repetitions only average what noise there is.
 */
export const MPI_SHORT_REPETITIONS = true;
/**
 * HPCC over two hosts, with the runners' short plans (as MPI): the calibration's HPCC ping-pong
 * figures are over two hosts (model/ib-calibration.ts), the VNET+VTOE composition builds two, and
 * over the testbed's 6 nodes the runs take most of the full report's time.
 */
export const HPCC_HOSTS = 2;

export function scopeOf(quick: boolean): Scope {
  return quick
    ? { pingSizes: PING_SIZES_QUICK, ttcpWindowNs: ttcpDurationNs(true), tcpWindowNs: TCP_DURATION_QUICK_NS, pingTrain: VARIABILITY_PINGS_QUICK, mpiSizes: MPI_SIZES_QUICK, hpccHosts: 0 }
    : { pingSizes: PING_SIZES, ttcpWindowNs: ttcpDurationNs(false), tcpWindowNs: TCP_DURATION_NS, pingTrain: VARIABILITY_PINGS, mpiSizes: MPI_SIZES, hpccHosts: HPCC_HOSTS };
}

/** What `--quick` leaves out, in words (printed on screen and in report.md). */
export function quickNotice(): string {
  const q = scopeOf(true);
  const f = scopeOf(false);
  const left = f.pingSizes.filter((s) => !q.pingSizes.includes(s));
  const mpi = runnableConfigurations().some((r) => r.runners.mpi !== undefined);
  return (
    `Quick run (--quick): ICMP sizes ${q.pingSizes.join(', ')} only (leaves out ${left.join(', ')}); ` +
    `ttcp windows of ${q.ttcpWindowNs / 1e6} ms (UDP) and ${q.tcpWindowNs / 1e6} ms (TCP) instead of ${f.ttcpWindowNs / 1e6} and ${f.tcpWindowNs / 1e6} ms; ` +
    `a ping train of ${q.pingTrain} instead of ${f.pingTrain} pings (p99 and max rest on fewer samples)` +
    (mpi ? `; MPI at message sizes ${q.mpiSizes.join(', ')} only (${f.mpiSizes.length} sizes in the full report)` : '') +
    (runnableConfigurations().some((r) => r.runners.hpcc !== undefined) ? `; no HPCC (${f.hpccHosts} hosts in the full report)` : '') +
    '. Run without --quick for the full report.'
  );
}

/** Experiments the report does not run yet for any configuration: their sections are empty. */
function notYet(rs: readonly ConfigurationRunners[]): string[] {
  const has = (k: keyof ConfigurationRunners['runners']) => rs.some((r) => r.runners[k] !== undefined);
  const out: string[] = [];
  if (!has('tcpThroughput')) out.push('throughput (TCP)', 'cpu');
  if (!has('mpi')) out.push('mpi');
  if (!has('hpcc')) out.push('hpcc');
  return out;
}

/** The experiments of a report, as `--only` names them. */
export const SECTIONS = ['calibration', 'rtt', 'throughput', 'mpi', 'variability', 'hpcc'] as const;
export type Section = (typeof SECTIONS)[number];

export interface Progress {
  readonly done: number;
  readonly total: number;
  readonly section: string;
  readonly label: string;
}

export interface ReportOptions {
  readonly quick: boolean;
  readonly seed: number;
  readonly costs?: Costs;
  /** Only these configurations (default: every one that runs something); for tests and partial runs. */
  readonly configs?: readonly string[];
  /** Narrower experiments than `quick` gives (fewer ping sizes, a shorter train, fewer MPI sizes), for tests; ttcp windows stay those of `quick`. */
  readonly scope?: Partial<Pick<Scope, 'pingSizes' | 'pingTrain' | 'mpiSizes' | 'hpccHosts'>>;
  /** Only these experiments (default all); interrupts come with throughput and variability, cpu with throughput. */
  readonly sections?: readonly Section[];
  /** Called before each run (on stderr in the CLI). */
  readonly progress?: (p: Progress) => void;
}

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;
const roundOrNull = (x: number | null, digits = 4) => (x === null || !Number.isFinite(x) ? null : round(x, digits));

/** The configurations a report runs: all runnable ones, or `configs` (an unknown or non-runnable id is an error). */
function selected(configs: readonly string[] | undefined): ConfigurationRunners[] {
  const all = runnableConfigurations();
  if (configs === undefined) return all;
  for (const id of configs) {
    if (!all.some((r) => r.id === id)) throw new UsageError(`configuration "${id}" runs nothing; runnable: ${all.map((r) => r.id).join(', ')}`);
  }
  return all.filter((r) => configs.includes(r.id));
}

/** Runs every experiment that exists; a pure function of its arguments (same seed, same report). */
export function buildReport(o: ReportOptions): Report {
  // The calibrated costs with the InfiniBand fit on top (it sets only InfiniBand host parameters).
  const costs = o.costs ?? ibCalibratedCosts;
  const scope: Scope = { ...scopeOf(o.quick), ...o.scope };
  const rs = selected(o.configs);
  const base = { costs, seed: o.seed, quick: o.quick };
  const rtt: RttRow[] = [];
  const udp: { config: string; mtu: number; bps: number }[] = [];
  const tcp: { config: string; mtu: number; bps: number }[] = [];
  const tcpBi: { config: string; mtu: number; bps: number }[] = [];
  const mpi: MpiRow[] = [];
  const interrupts: InterruptRow[] = [];
  const variability: VariabilityRow[] = [];
  const cpu: CpuRow[] = [];
  const hpcc: HpccRow[] = [];
  const failures: FailedRun[] = [];
  const irqRow = (config: string, workload: 'udp' | 'ping', mtu: number, c: InterruptCounts): InterruptRow => {
    const f = interruptFractions(c);
    return {
      config,
      workload,
      mtu,
      virqPerPirq: roundOrNull(f.virqPerPirq),
      eviPrematureFraction: roundOrNull(f.eviPrematureFraction),
      eviMaskedFraction: roundOrNull(f.eviMaskedFraction),
      physical: c.physical,
      virtual: c.virtual,
      eviDecided: c.eviDecided,
      eviRaised: c.eviRaised,
    };
  };

  // Plan every run first, so progress can say how far along the report is.
  const tasks: { section: string; label: string; run: () => void }[] = [];
  for (const c of rs) {
    const r = c.runners;
    if (r.rttUs) {
      for (const mtu of c.mtus) {
        for (const sizeBytes of scope.pingSizes) {
          tasks.push({ section: 'rtt', label: `${c.id} MTU ${mtu} ping ${sizeBytes} B`, run: () => rtt.push({ config: c.id, mtu, sizeBytes, rttUs: round(r.rttUs!({ ...base, mtu, sizeBytes })) }) });
        }
      }
    }
  }
  for (const c of rs) {
    const r = c.runners;
    for (const mtu of c.mtus) {
      if (r.udpGoodput) {
        tasks.push({
          section: 'throughput',
          label: `${c.id} MTU ${mtu} UDP`,
          run: () => {
            const g = r.udpGoodput!({ ...base, mtu });
            udp.push({ config: c.id, mtu, bps: g.bitsPerSecond });
            if (c.vnetpFamily && g.interrupts) interrupts.push(irqRow(c.id, 'udp', mtu, g.interrupts));
          },
        });
      }
      if (r.tcpThroughput) {
        tasks.push({
          section: 'throughput',
          label: `${c.id} MTU ${mtu} TCP`,
          run: () => {
            const t = r.tcpThroughput!({ ...base, mtu, streams: 1 });
            tcp.push({ config: c.id, mtu, bps: t.bitsPerSecond });
            cpu.push({ config: c.id, mtu, side: 'tx', busyFraction: round(t.cpu.tx, 4) }, { config: c.id, mtu, side: 'rx', busyFraction: round(t.cpu.rx, 4) });
          },
        });
      }
      if (r.tcpThroughput && c.biStream) {
        tasks.push({
          section: 'throughput',
          label: `${c.id} MTU ${mtu} TCP bi-stream`,
          run: () => tcpBi.push({ config: c.id, mtu, bps: r.tcpThroughput!({ ...base, mtu, streams: 2 }).bitsPerSecond }),
        });
      }
    }
  }
  for (const c of rs) {
    const r = c.runners;
    // MPI at the configuration's largest MTU (calibration.md: MPI PingPong at 10 Gbps, MTU 9000).
    const mtu = Math.max(...c.mtus);
    for (const mode of ['pingpong', 'sendrecv'] as const) {
      if (!r.mpi) continue;
      tasks.push({
        section: 'mpi',
        label: `${c.id} MTU ${mtu} IMB ${mode}`,
        run: () => {
          for (const p of r.mpi!({ ...base, quick: o.quick || MPI_SHORT_REPETITIONS, mtu, mode, sizes: scope.mpiSizes })) {
            mpi.push({ config: c.id, mtu, mode, sizeBytes: p.sizeBytes, latencyUs: round(p.latencyUs), bandwidthMBs: round(p.bandwidthMBs) });
          }
        },
      });
    }
  }
  for (const c of rs) {
    const r = c.runners;
    // The 64-byte train at the smallest MTU: one frame per echo whatever the MTU.
    const mtu = Math.min(...c.mtus);
    if (!r.pingTrain) continue;
    tasks.push({
      section: 'variability',
      label: `${c.id} ${scope.pingTrain} pings of ${VARIABILITY_SIZE_BYTES} B`,
      run: () => {
        const v = r.pingTrain!({ ...base, mtu, count: scope.pingTrain });
        variability.push({ config: c.id, mtu, pings: v.count, p50Us: round(v.p50Us), p99Us: round(v.p99Us), maxUs: round(v.maxUs) });
        if (c.vnetpFamily && v.interrupts) interrupts.push(irqRow(c.id, 'ping', mtu, v.interrupts));
      },
    });
  }
  for (const c of rs) {
    const r = c.runners;
    if (!r.hpcc || scope.hpccHosts < 2) continue;
    const mtu = Math.max(...c.mtus);
    const hosts = scope.hpccHosts;
    tasks.push({
      section: 'hpcc',
      label: `${c.id} MTU ${mtu} HPCC on ${hosts} hosts`,
      run: () => {
        const h = r.hpcc!({ ...base, quick: true, mtu, hosts });
        hpcc.push({
          config: c.id,
          mtu,
          hosts,
          pingPongLatencyUs: round(h.pingPongLatencyUs),
          pingPongBandwidthMBs: round(h.pingPongBandwidthMBs),
          ringLatencyUs: round(h.ringLatencyUs),
          ringBandwidthMBs: round(h.ringBandwidthMBs),
        });
      },
    });
  }
  // Ethernet figures first, then InfiniBand's, whichever runs first.
  const calibration: CalibrationRow[] = [];
  tasks.push({
    section: 'calibration',
    label: 'calibration figures',
    run: () => {
      // The quick UDP runs at MTU 1500 have the calibration's windows, costs and seed: reused.
      const known = (id: string) => (o.quick ? udp.find((g) => g.config === id && g.mtu === 1500)?.bps : undefined);
      const figures = [...evaluateCalibration(costs, o.seed), ...evaluateThroughputCalibration(costs, o.seed, known)];
      calibration.unshift(...figures.map((f: FigureResult) => ({
        figure: f.figure,
        measured: f.measured,
        model: round(f.model),
        error: round(f.error, 4),
        fitted: f.fitted,
        ...(f.note ? { note: f.note } : {}),
      })));
    },
  });
  tasks.push({
    section: 'calibration',
    label: 'InfiniBand calibration figures',
    run: () => {
      for (const f of evaluateIbCalibration(costs, o.seed)) {
        calibration.push({ figure: f.figure, measured: f.measured, model: round(f.model), error: round(f.error, 4), fitted: f.fitted, ...(f.note ? { note: f.note } : {}) });
      }
    },
  });
  for (const x of o.sections ?? []) if (!SECTIONS.includes(x)) throw new UsageError(`unknown report section "${String(x)}"; known: ${SECTIONS.join(', ')}`);
  const planned = o.sections ? tasks.filter((t) => o.sections!.includes(t.section as Section)) : tasks;
  planned.forEach((t, i) => {
    o.progress?.({ done: i, total: planned.length, section: t.section, label: t.label });
    try {
      t.run();
    } catch (err) {
      // A run that fails (a model error, a workload that never completes) gets no row; the report says so.
      const message = (err instanceof Error ? err.message : String(err)).split('\n')[0];
      failures.push({ section: t.section, run: t.label, error: message });
    }
  });
  o.progress?.({ done: planned.length, total: planned.length, section: 'done', label: 'done' });

  // Native on the same link, from runs in this report: at the same MTU, or at the one MTU native runs at.
  const fraction = (rows: typeof udp, x: (typeof udp)[number]) => {
    const native = rs.find((c) => c.id === x.config)?.native ?? (rs.some((c) => c.native === x.config) ? x.config : undefined);
    const of = rows.filter((g) => g.config === native);
    const n = (of.find((g) => g.mtu === x.mtu) ?? (of.length === 1 ? of[0] : undefined))?.bps;
    return n ? round(x.bps / n) : null;
  };
  const rows = (xs: typeof udp, protocol: 'udp' | 'tcp', streams: 1 | 2): ThroughputRow[] =>
    xs.map((x) => ({ config: x.config, mtu: x.mtu, protocol, streams, gbps: round(x.bps / 1e9), fractionOfNative: fraction(xs, x) }));
  // In configuration order, then MTU, then UDP, TCP, TCP bi-stream.
  const order = (x: ThroughputRow) => [rs.findIndex((c) => c.id === x.config), x.mtu, x.protocol === 'udp' ? 0 : x.streams];
  const throughput: ThroughputRow[] = [...rows(udp, 'udp', 1), ...rows(tcp, 'tcp', 1), ...rows(tcpBi, 'tcp', 2)].sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  });
  // Interrupt rows: the stream first, then the ping train, each in configuration order.
  interrupts.sort((a, b) => (a.workload === b.workload ? 0 : a.workload === 'udp' ? -1 : 1));
  return { schema: 'vnet-model/report@1', seed: o.seed, quick: o.quick, calibration, rtt, throughput, mpi, interrupts, variability, cpu, hpcc, failures };
}

/** What the report says beside the document: configurations not built, experiments not modelled, fitted values, workloads by configuration. */
export function reportContext(): ReportContext {
  const rs = runnableConfigurations();
  return {
    planned: configurations.filter((c) => !rs.some((r) => r.id === c.id)).map((c) => c.id),
    notModelled: notYet(rs),
    fittedValues: { ...calibrationRecord.values, ...(calibrationRecord.throughput?.values ?? {}), ...(ibCalibrationRecord?.values ?? {}) },
    workloads: rs.map((r) => ({
      config: r.id,
      mtus: r.mtus,
      workloads: [...workloadsOf(r.runners).map((w) => (w === 'tcp' && r.biStream ? 'tcp (uni- and bi-stream)' : w)), ...(r.vnetpFamily ? ['interrupts'] : [])],
      ...(r.native ? { native: r.native } : {}),
    })),
    quickNotice: quickNotice(),
  };
}

// ---- Text -----------------------------------------------------------------------------------------

/** A text table; the columns numbered in `left` are left-aligned, the others (numbers) right-aligned. */
function table(header: readonly string[], rows: readonly (readonly string[])[], left: readonly number[] = [0]): string[] {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: readonly string[]) => r.map((x, i) => (left.includes(i) ? x.padEnd(w[i]) : x.padStart(w[i]))).join('  ').trimEnd();
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)];
}

const pct = (x: number | null) => (x === null || !Number.isFinite(x) ? '-' : `${(x * 100).toFixed(1)}%`);
const unique = <T,>(xs: readonly T[]) => [...new Set(xs)];

export function formatReport(r: Report): string {
  const out: string[] = [];
  const ctx = reportContext();
  out.push('vnet-model report (virtual time; costs calibrated on calibration.md, model/calibration.json)', '');
  if (r.quick) out.push(ctx.quickNotice, '');
  if (r.calibration.length) {
    out.push('Calibration: fitted only to the rows marked *; nothing is fitted to VNET/P+ or VNET+VTOE.', '');
    out.push(
      ...table(
        ['figure', 'measured', 'model', 'error'],
        r.calibration.map((f) => [`${f.fitted ? '*' : ' '} ${f.figure}`, String(f.measured), f.model.toFixed(2), `${(f.error * 100).toFixed(1)}%`]),
      ),
    );
    for (const f of r.calibration) if (f.note) out.push(`  (${f.figure.split(': ').pop()}: ${f.note})`);
    out.push('', `Fitted values: ${Object.entries(ctx.fittedValues).map(([k, v]) => `${k}=${v}`).join(', ')}`, '');
  }

  if (r.rtt.length) out.push('ICMP round-trip time (us) by ICMP data size (bytes), median of 3 pings:', '');
  const series = [...new Map(r.rtt.map((x) => [`${x.config}@${x.mtu}`, x] as const)).values()];
  const sizes = unique(r.rtt.map((x) => x.sizeBytes));
  const at = (config: string, mtu: number, size: number) => r.rtt.find((x) => x.config === config && x.mtu === mtu && x.sizeBytes === size)?.rttUs;
  if (r.rtt.length) out.push(...table(['configuration', 'MTU', ...sizes.map(String)], series.map((x) => [x.config, String(x.mtu), ...sizes.map((s) => at(x.config, x.mtu, s)?.toFixed(1) ?? '-')])));

  const sc = scopeOf(r.quick);
  const tg = throughputGrid(r);
  if (tg.rows.length) {
    out.push('', `Throughput (ttcp, 64000-byte writes; windows of ${sc.ttcpWindowNs / 1e6} ms UDP, ${sc.tcpWindowNs / 1e6} ms TCP of virtual time), Gbps (fraction of native on the same link); bi-stream per stream:`, '');
    out.push(...table(tg.header, tg.rows));
  }

  if (r.mpi.length) {
    for (const mode of ['pingpong', 'sendrecv'] as const) {
      if (!r.mpi.some((x) => x.mode === mode)) continue;
      const name = mode === 'pingpong' ? 'PingPong' : 'SendRecv';
      const lat = mpiGrid(r, mode, 'latencyUs');
      out.push('', `MPI ${name} (IMB, short repetition counts): latency (us) by message size:`, '', ...table(lat.header, lat.rows));
      const bw = mpiGrid(r, mode, 'bandwidthMBs');
      out.push('', `MPI ${name} (IMB): bandwidth (MB/s) by message size:`, '', ...table(bw.header, bw.rows));
    }
  }

  if (r.variability.length) out.push('', `Latency variability: ${VARIABILITY_SIZE_BYTES}-byte ping train, round trip (us):`, '');
  if (r.variability.length) out.push(
    ...table(
      ['configuration', 'pings', 'p50', 'p99', 'max', 'max/p50'],
      r.variability.map((x) => [x.config, String(x.pings), x.p50Us.toFixed(1), x.p99Us.toFixed(1), x.maxUs.toFixed(1), (x.maxUs / x.p50Us).toFixed(2)]),
    ),
  );

  if (r.interrupts.length) out.push('', 'Interrupts on the receiving host (VNET/P family): virtual per physical, premature EVIs per EVI raised, masked EVIs per EVI decided:', '');
  if (r.interrupts.length) out.push(
    ...table(
      ['configuration', 'workload', 'pirq', 'virq', 'virq/pirq', 'EVIs', 'premature', 'masked'],
      r.interrupts.map((x) => [
        x.config,
        x.workload === 'udp' ? `UDP MTU ${x.mtu}` : `ping train`,
        String(x.physical),
        String(x.virtual),
        x.virqPerPirq?.toFixed(3) ?? '-',
        String(x.eviDecided),
        pct(x.eviPrematureFraction),
        pct(x.eviMaskedFraction),
      ]),
      [0, 1],
    ),
  );

  if (r.cpu.length) {
    out.push('', 'CPU busy fraction during the TCP stream (user + guest kernel + VMM over wall time; cores summed, 100% = one core):', '');
    const keys = [...new Map(r.cpu.map((x) => [`${x.config}@${x.mtu}`, x] as const)).values()];
    const busy = (c: string, m: number, side: 'tx' | 'rx') => r.cpu.find((x) => x.config === c && x.mtu === m && x.side === side)?.busyFraction;
    out.push(...table(['configuration', 'MTU', 'sender', 'receiver'], keys.map((x) => [x.config, String(x.mtu), pct(busy(x.config, x.mtu, 'tx') ?? null), pct(busy(x.config, x.mtu, 'rx') ?? null)])));
  }

  if (r.hpcc.length) {
    out.push('', 'HPCC (short plans): ping-pong between host pairs and natural ring, latency (us) and bandwidth (MB/s, MB = 10^6 B):', '');
    out.push(
      ...table(
        ['configuration', 'MTU', 'hosts', 'ping-pong lat', 'ping-pong bw', 'ring lat', 'ring bw'],
        r.hpcc.map((x) => [x.config, String(x.mtu), String(x.hosts), x.pingPongLatencyUs.toFixed(1), x.pingPongBandwidthMBs.toFixed(1), x.ringLatencyUs.toFixed(1), x.ringBandwidthMBs.toFixed(1)]),
      ),
    );
  }

  const ab = ablationGrid(r);
  if (ab.rows.length) out.push('', 'VNET/P+ ablation (predictions; nothing fitted to VNET/P+), MTU 1500:', '', ...table(ab.header, ab.rows));

  if (r.failures.length) {
    out.push('', `Failed runs (${r.failures.length}; no rows for them):`);
    for (const f of r.failures) out.push(`  ${f.section}: ${f.run}: ${f.error}`);
  }
  out.push('', 'Workloads by configuration (a configuration has rows only for these):', '');
  out.push(...table(['configuration', 'MTUs', 'throughput vs', 'workloads'], ctx.workloads.map((w) => [w.config, w.mtus.join(', '), w.native ?? '-', w.workloads.join(', ')]), [0, 2, 3]));
  if (ctx.planned.length) out.push(`Not run yet: ${ctx.planned.join(', ')} (see docs/configurations.md).`);
  if (ctx.notModelled.length) out.push(`Not modelled yet (empty in --json): ${ctx.notModelled.join(', ')}.`);
  return out.join('\n');
}

/** Progress on stderr: one line rewritten in place on a terminal, a line per section otherwise. */
function progressOnStderr(): (p: Progress) => void {
  const tty = process.stderr.isTTY === true;
  let section = '';
  const t0 = performance.now();
  return (p) => {
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    if (tty) {
      process.stderr.write(p.section === 'done' ? '\r\x1b[K' : `\r\x1b[K[${p.done + 1}/${p.total}, ${secs} s] ${p.section}: ${p.label}`);
    } else if (p.section !== section) {
      section = p.section;
      process.stderr.write(p.section === 'done' ? `report: done in ${secs} s\n` : `report: [${p.done + 1}/${p.total}, ${secs} s] ${p.section}\n`);
    }
  };
}

export const reportCommand: Command = {
  name: 'report',
  usage: '[--quick] [--json] [--seed N] [--out DIR] [--config ID,...] [--only SECTION,...] [--no-progress]',
  summary: 'run the experiments of the system model over every configuration and print the calibration and the results',
  help: [
    'Options:',
    '  --quick        fewer and shorter experiments (a short list of ping sizes, short ttcp windows,',
    '                 a short ping train, fewer MPI sizes); the output says what it leaves out',
    '  --json         print one vnet-model/report@1 JSON document',
    '  --seed N       root seed of the run (default 1)',
    '  --out DIR      also write DIR/report.md and its SVG charts (created if missing)',
    '  --config IDS   only these configurations (comma-separated ids)',
    `  --only NAMES   only these experiments (comma-separated: ${SECTIONS.join(', ')})`,
    '  --no-progress  no progress lines on stderr',
  ].join('\n'),
  run: async (args) => {
    const a = parseArgs(args, { values: ['--seed', '--out', '--config', '--only'], flags: ['--quick', '--json', '--no-progress'] });
    if (a.positional.length) throw new UsageError(`unexpected argument "${a.positional[0]}"`);
    const quick = a.flags.has('--quick');
    const json = a.flags.has('--json');
    const configsArg = a.values.get('--config');
    const configs = configsArg === undefined ? undefined : configsArg.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (configs !== undefined && configs.length === 0) throw new UsageError('--config needs configuration ids');
    const onlyArg = a.values.get('--only');
    const sections = onlyArg === undefined ? undefined : onlyArg.split(',').map((x) => x.trim()).filter((x) => x !== '');
    if (sections !== undefined && sections.length === 0) throw new UsageError(`--only needs section names (${SECTIONS.join(', ')})`);
    for (const x of sections ?? []) if (!(SECTIONS as readonly string[]).includes(x)) throw new UsageError(`--only: unknown section "${x}"; known: ${SECTIONS.join(', ')}`);
    const out = a.values.get('--out');
    if (out === '') throw new UsageError('--out needs a directory');
    // Said before the runs start, so the wait is explained (stderr: stdout may be the JSON document).
    if (quick && !a.flags.has('--no-progress')) console.error(quickNotice());
    const report = buildReport({
      quick,
      seed: intOption(a, '--seed', 1),
      configs,
      ...(sections ? { sections: sections as Section[] } : {}),
      ...(a.flags.has('--no-progress') ? {} : { progress: progressOnStderr() }),
    });
    console.log(json ? JSON.stringify(report, null, 2) : formatReport(report));
    if (json && report.failures.length) console.error(`report: ${report.failures.length} runs failed (see "failures" in the document)`);
    if (out !== undefined) {
      const written = await writeReportFolder(out, report, reportContext());
      // stdout stays one JSON document under --json.
      (json ? console.error : console.log)(`${json ? '' : '\n'}Report folder: ${out} (${written.map((f) => basename(f)).join(', ')})`);
    }
    return 0;
  },
};
