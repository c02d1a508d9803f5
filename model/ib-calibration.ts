/**
 * Calibration of the InfiniBand host cost parameters on the InfiniBand rows of calibration.md, and
 * only on those (never on a VNET+VTOE figure, which the model must predict):
 *
 * - TCP over InfiniBand (ttcp): Native+SDP uni-stream 10 Gbps, and 10 Gbps per stream bi-stream;
 * - TCP over InfiniBand: Native+IPoIB bi-stream, each stream drops to half the wire capacity;
 * - MPI over InfiniBand, large messages: Native+IPoIB about 47%, VNET+IPoIB about 28% of
 *   Native+Uverbs;
 * - HPCC ping-pong, InfiniBand: Native+IPoIB 5-12x the latency of Native+Uverbs, 40-60% of its
 *   bandwidth.
 *
 * Reading of "half the wire capacity": per stream, half of what one stream reaches alone (the
 * IPoIB "wire" as a single stream sees it). The literal reading, half the 32 Gbit/s data rate (16
 * Gbit/s per stream), would put IPoIB above SDP's 10 Gbit/s, which the same table reports as the
 * faster socket path; so the ratio bi-stream / uni-stream = 0.5 is fitted.
 *
 * The fit starts from the Ethernet-calibrated costs (model/calibration.json through
 * calibratedCosts, snapshotted into the stored record as `base` so the stored fit reproduces even
 * after the Ethernet fit moves) and runs two stages, each a deterministic coordinate search in log
 * space (the procedure of model/calibration.ts, which does not export it, written again here):
 * every parameter in turn is multiplied and divided by a factor (a zero value steps to 1; the PCIe
 * payload size steps between its legal values 128..4096), the first change that lowers the
 * objective is kept; when a full round keeps nothing the factor goes to its
 * square root; the search ends below factor 1.1 or at the evaluation cap. The objective is the sum
 * of squared relative errors of the stage's figures (a range figure counts 0 inside its range,
 * else its relative distance to the nearer end) plus 1e-5 x (log of value over initial guess)^2
 * per parameter, so that parameters the figures leave free stay at their guesses.
 *
 * 1. `sdp`: ibPcieTlpPayloadBytes, sdpMessageCycles on the two SDP rows (model/ib-verbs-paths.ts).
 * 2. `ipoib`: the IPoIB driver parameters (model/ipoib.ts) on the IPoIB, MPI and HPCC rows, with the
 *    SDP stage's values fixed. The verbs-side parameters the HPCC and MPI rows also name
 *    (ibHcaTxNs, ibHcaRxNs, ibVerbsPostCycles, ibVerbsPollCycles, mpiMessageCycles) stay at their
 *    guesses: those rows are ratios of IPoIB to verbs and constrain the pair, not both sides; the
 *    IPoIB side is fitted against the verbs side as the guesses make it.
 *
 * Measurements, kept short so that a fit takes minutes (each row's note says how): TCP windows of
 * 3 ms after 1 ms; IMB PingPong at 4 MiB (2 repetitions after 1) for native-ipoib and verbs, at 1
 * MiB (1 after 1) for vnet-ipoib, whose 9000-byte guest frames make it the slow one; HPCC over two
 * hosts with the quick plan. HPCC bandwidth: hpcc.ts reports MB = 10^6 bytes, the verbs runner
 * MiB; the ratio converts.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { calibratedCosts } from './calibrated-costs.js';
import { objectiveOf } from './calibration.js';
import { checkCosts, costNames, costParams, defaultCosts, type CostName, type Costs } from './costs.js';
import { measureHpcc } from './hpcc.js';
import { nativeUverbsRunners, runSdpTtcp, uverbsPingPong } from './ib-verbs-paths.js';
import { buildIpoibPath, NATIVE_IPOIB_MTU, VNET_IPOIB_GUEST_MTU } from './ipoib.js';
import { measureImb } from './mpi.js';
import { measureTcpThroughput } from './tcp.js';

/** The calibration.md rows, as fitTo names them in costs.ts. */
export const IB_ROWS = {
  sdp: 'TCP over InfiniBand (ttcp): Native+SDP uni-stream 10 Gbps, and 10 Gbps per stream in the bi-stream test',
  ipoibBi: 'TCP over InfiniBand: Native+IPoIB bi-stream each stream drops to half the wire capacity',
  mpiNative: 'MPI over InfiniBand, large messages: Native+IPoIB about 47% of Native+Uverbs',
  mpiVnet: 'MPI over InfiniBand, large messages: VNET+IPoIB about 28% of Native+Uverbs',
  hpcc: 'HPCC ping-pong, InfiniBand: Native+IPoIB 5-12x the latency of Native+Uverbs, 40-60% of its bandwidth',
} as const;

/** What one evaluation measures. */
export interface IbMeasures {
  /** ttcp over SDP, per stream, bit/s. */
  readonly sdpUni: number;
  readonly sdpBi: number;
  /** ttcp over TCP on native-ipoib, per stream, bit/s. */
  readonly ipoibUni: number;
  readonly ipoibBi: number;
  /** IMB PingPong bandwidth, MiB/s, of large messages. */
  readonly mpiUverbs: number;
  readonly mpiNativeIpoib: number;
  readonly mpiVnetIpoib: number;
  /** HPCC ping-pong latency (us) and bandwidth (MB/s, 10^6 bytes). */
  readonly hpccUverbs: { readonly latencyUs: number; readonly bandwidthMBs: number };
  readonly hpccIpoib: { readonly latencyUs: number; readonly bandwidthMBs: number };
}

export interface IbFigure {
  readonly id: string;
  readonly figure: string;
  /** The row's value (the middle of a range). */
  readonly measured: number;
  /** For a row that gives a range: the model is right anywhere inside it. */
  readonly range?: readonly [number, number];
  readonly unit: 'Gbps' | 'ratio';
  readonly fitted: boolean;
  readonly note?: string;
  /** Which stage fits it. */
  readonly stage: 'sdp' | 'ipoib';
  readonly model: (m: IbMeasures) => number;
}

export const ibCalibrationFigures: readonly IbFigure[] = [
  { id: 'sdp-uni', figure: `${IB_ROWS.sdp}: uni-stream`, measured: 10, unit: 'Gbps', fitted: true, stage: 'sdp', note: 'ttcp over SDP, 4 ms after 2 ms', model: (m) => m.sdpUni / 1e9 },
  { id: 'sdp-bi', figure: `${IB_ROWS.sdp}: per stream, bi-stream`, measured: 10, unit: 'Gbps', fitted: true, stage: 'sdp', note: 'ttcp over SDP, 4 ms after 2 ms', model: (m) => m.sdpBi / 1e9 },
  {
    id: 'ipoib-bi-half',
    figure: IB_ROWS.ipoibBi,
    measured: 0.5,
    unit: 'ratio',
    fitted: true,
    stage: 'ipoib',
    note: 'read as per-stream bi-stream over uni-stream (see model/ib-calibration.ts); ttcp over TCP, 3 ms after 1 ms',
    model: (m) => m.ipoibBi / m.ipoibUni,
  },
  {
    id: 'mpi-native-ipoib',
    figure: IB_ROWS.mpiNative,
    measured: 0.47,
    unit: 'ratio',
    fitted: true,
    stage: 'ipoib',
    note: 'IMB PingPong bandwidth at 4 MiB',
    model: (m) => m.mpiNativeIpoib / m.mpiUverbs,
  },
  {
    id: 'mpi-vnet-ipoib',
    figure: IB_ROWS.mpiVnet,
    measured: 0.28,
    unit: 'ratio',
    fitted: true,
    stage: 'ipoib',
    note: 'IMB PingPong bandwidth, vnet-ipoib at 1 MiB over verbs at 4 MiB',
    model: (m) => m.mpiVnetIpoib / m.mpiUverbs,
  },
  {
    id: 'hpcc-latency',
    figure: `${IB_ROWS.hpcc}: latency`,
    measured: 8.5,
    range: [5, 12],
    unit: 'ratio',
    fitted: true,
    stage: 'ipoib',
    note: 'a range: error 0 inside 5-12x; HPCC 8-byte ping-pong over two hosts',
    model: (m) => m.hpccIpoib.latencyUs / m.hpccUverbs.latencyUs,
  },
  {
    id: 'hpcc-bandwidth',
    figure: `${IB_ROWS.hpcc}: bandwidth`,
    measured: 0.5,
    range: [0.4, 0.6],
    unit: 'ratio',
    fitted: true,
    stage: 'ipoib',
    note: 'a range: error 0 inside 40-60%; HPCC 2,000,000-byte ping-pong over two hosts',
    model: (m) => m.hpccIpoib.bandwidthMBs / m.hpccUverbs.bandwidthMBs,
  },
];

export interface IbFigureResult {
  readonly figure: string;
  readonly measured: number;
  readonly model: number;
  /** (model - measured) / measured; for a range, 0 inside it, else relative to its nearer end. */
  readonly error: number;
  readonly unit: 'Gbps' | 'ratio';
  readonly fitted: boolean;
  readonly note?: string;
}

function figureError(f: IbFigure, model: number): number {
  if (!f.range) return (model - f.measured) / f.measured;
  const [lo, hi] = f.range;
  if (model < lo) return (model - lo) / lo;
  if (model > hi) return (model - hi) / hi;
  return 0;
}

const MIB = 1_048_576;
const IMB_BIG = 4 * MIB;
const IMB_VNET = MIB;

const sdpMeasures = (costs: Costs, seed: number) => ({
  sdpUni: runSdpTtcp(costs, { streams: 1, durationNs: 4_000_000, warmupNs: 2_000_000, seed }).bitsPerSecond,
  sdpBi: runSdpTtcp(costs, { streams: 2, durationNs: 4_000_000, warmupNs: 2_000_000, seed }).bitsPerSecond,
});

function verbsMeasures(costs: Costs, seed: number): Pick<IbMeasures, 'mpiUverbs' | 'hpccUverbs'> {
  const h = nativeUverbsRunners.hpcc!({ mtu: NATIVE_IPOIB_MTU, costs, seed, quick: true, hosts: 2 });
  return {
    mpiUverbs: uverbsPingPong(costs, IMB_BIG, { seed, reps: 2, warm: 1 }).bandwidthMBs,
    // The verbs runner reports MiB/s; hpcc.ts MB/s.
    hpccUverbs: { latencyUs: h.pingPongLatencyUs, bandwidthMBs: (h.pingPongBandwidthMBs * MIB) / 1e6 },
  };
}

function ipoibMeasures(costs: Costs, seed: number): Omit<IbMeasures, 'sdpUni' | 'sdpBi' | 'mpiUverbs' | 'hpccUverbs'> {
  const native = (o: Parameters<typeof buildIpoibPath>[1]) => buildIpoibPath('native', o);
  const vnet = (o: Parameters<typeof buildIpoibPath>[1]) => buildIpoibPath('vnetp', o);
  const tcp = (streams: 1 | 2) => measureTcpThroughput(native, { mtu: NATIVE_IPOIB_MTU, linkBitRate: costs.ibDataBitRate, costs, seed, streams, durationNs: 3_000_000, warmupNs: 1_000_000 }).bitsPerSecond;
  const imb = (build: typeof native, mtu: number, size: number, reps: number) =>
    measureImb(build, { mode: 'pingpong', sizes: [size], mtu, costs, seed, repetitions: () => reps, warmup: 1 })[0].bandwidthMBs;
  const h = measureHpcc((o) => buildIpoibPath('native', o), { hosts: 2, mtu: NATIVE_IPOIB_MTU, costs, seed, quick: true });
  return {
    ipoibUni: tcp(1),
    ipoibBi: tcp(2),
    mpiNativeIpoib: imb(native, NATIVE_IPOIB_MTU, IMB_BIG, 2),
    mpiVnetIpoib: imb(vnet, VNET_IPOIB_GUEST_MTU, IMB_VNET, 1),
    hpccIpoib: { latencyUs: h.pingPongLatencyUs, bandwidthMBs: h.pingPongBandwidthMBs },
  };
}

/** Every InfiniBand calibration figure under `costs`: measured, model, relative error. */
export function evaluateIbCalibration(costs: Costs, seed = 1): IbFigureResult[] {
  checkCosts(Object.fromEntries(costNames.filter((n) => costParams[n].basis !== 'derived').map((n) => [n, costs[n]])));
  if (!Number.isSafeInteger(seed)) throw new RangeError(`evaluateIbCalibration: seed must be a safe integer, got ${String(seed)}`);
  const m: IbMeasures = { ...sdpMeasures(costs, seed), ...verbsMeasures(costs, seed), ...ipoibMeasures(costs, seed) };
  return ibCalibrationFigures.map((f) => result(f, f.model(m)));
}

function result(f: IbFigure, model: number): IbFigureResult {
  return { figure: f.figure, measured: f.measured, model, error: figureError(f, model), unit: f.unit, fitted: f.fitted, ...(f.note ? { note: f.note } : {}) };
}

// ---- the fit --------------------------------------------------------------------------------------

/** The parameters of each stage, in cost-table order. */
export const ibStageParameters: Readonly<Record<'sdp' | 'ipoib', readonly CostName[]>> = {
  sdp: ['ibPcieTlpPayloadBytes', 'sdpMessageCycles'],
  ipoib: costNames.filter((n) => n.startsWith('ipoib') && costParams[n].basis === 'fitted'),
};

/** The stage's figures under `costs`; the verbs side, which the ipoib stage does not move, is measured once per `costs` of the sdp stage. */
function stageEvaluator(stage: 'sdp' | 'ipoib', seed: number): (costs: Costs) => IbFigureResult[] {
  const figures = ibCalibrationFigures.filter((f) => f.stage === stage);
  let verbs: { key: string; m: Pick<IbMeasures, 'mpiUverbs' | 'hpccUverbs'> } | undefined;
  return (costs) => {
    if (stage === 'sdp') {
      const s = sdpMeasures(costs, seed);
      return figures.map((f) => result(f, f.model(s as IbMeasures)));
    }
    const key = JSON.stringify(costNames.filter((n) => !n.startsWith('ipoib')).map((n) => costs[n]));
    if (verbs?.key !== key) verbs = { key, m: verbsMeasures(costs, seed) };
    const m = { ...verbs.m, ...ipoibMeasures(costs, seed) } as IbMeasures;
    return figures.map((f) => result(f, f.model(m)));
  };
}

export interface IbStageFit {
  readonly name: 'sdp' | 'ipoib';
  readonly parameters: readonly CostName[];
  readonly figures: readonly string[];
  readonly objective: number;
  readonly evaluations: number;
  readonly values: Readonly<Record<string, number>>;
}

/** Largest evaluations per stage (a fit must end in minutes). */
export const IB_FIT_MAX_EVALUATIONS = 100;

/**
 * Parameters that take only some values: the PCIe Max_Payload_Size is one of 128, 256, ..., 4096
 * bytes (PCI Express Base 1.0a, Device Control register), not any byte count.
 */
const LEGAL_VALUES: Partial<Record<CostName, readonly number[]>> = { ibPcieTlpPayloadBytes: [128, 256, 512, 1024, 2048, 4096] };

function search(names: readonly CostName[], f: (values: Readonly<Record<string, number>>) => number, log?: (s: string) => void): { values: Record<string, number>; objective: number; evaluations: number } {
  const values: Record<string, number> = Object.fromEntries(names.map((n) => [n, defaultCosts[n]]));
  let best = f(values);
  let evaluations = 1;
  let factor = 2;
  while (factor > 1.1 && evaluations < IB_FIT_MAX_EVALUATIONS) {
    let improved = false;
    for (const name of names) {
      const spec = costParams[name];
      for (const m of [factor, 1 / factor]) {
        if (evaluations >= IB_FIT_MAX_EVALUATIONS) break;
        const legal = LEGAL_VALUES[name];
        let v: number;
        if (legal) {
          // A parameter with a list of legal values steps to the next one up or down.
          const i = legal.indexOf(values[name]);
          v = legal[Math.min(legal.length - 1, Math.max(0, i + (m > 1 ? 1 : -1)))] ?? values[name];
        } else {
          v = values[name] === 0 ? (m > 1 ? 1 : 0) : Math.min(spec.max, Math.max(spec.min, values[name] * m));
          if (spec.integer) v = Math.round(v);
        }
        if (v === values[name]) continue;
        const o = f({ ...values, [name]: v });
        evaluations++;
        log?.(`  ${name}=${v}: ${o.toFixed(5)}${o < best ? ' (kept)' : ''}`);
        if (o < best) {
          best = o;
          values[name] = v;
          improved = true;
          break;
        }
      }
    }
    if (!improved) factor = Math.sqrt(factor);
  }
  return { values, objective: best, evaluations };
}

/** The Ethernet-fitted values the IB fit starts from (calibratedCosts, non-derived, non-IB). */
export function ibFitBase(costs: Costs = calibratedCosts): Record<string, number> {
  const ib = new Set<string>([...ibStageParameters.sdp, ...ibStageParameters.ipoib]);
  return Object.fromEntries(costNames.filter((n) => costParams[n].basis === 'fitted' && !ib.has(n)).map((n) => [n, costs[n]]));
}

/** Both stages from `base` (default: the Ethernet calibration now). */
export function fitIb(base: Readonly<Record<string, number>> = ibFitBase(), seed = 1, log?: (s: string) => void): readonly IbStageFit[] {
  const out: IbStageFit[] = [];
  let fixed: Record<string, number> = { ...base };
  for (const stage of ['sdp', 'ipoib'] as const) {
    log?.(`stage ${stage}`);
    const r = search(ibStageParameters[stage], objectiveOf(stageEvaluator(stage, seed), fixed), log);
    out.push({ name: stage, parameters: ibStageParameters[stage], figures: ibCalibrationFigures.filter((f) => f.stage === stage).map((f) => f.figure), ...r });
    fixed = { ...fixed, ...r.values };
  }
  return out;
}

/** The stored objective of a stage, recomputed at the stored values (to check that model and store agree). */
export function ibStageObjective(stage: 'sdp' | 'ipoib', base: Readonly<Record<string, number>>, values: Readonly<Record<string, number>>, seed = 1): number {
  return objectiveOf(stageEvaluator(stage, seed), base)(values);
}

// ---- the stored fit -----------------------------------------------------------------------------

export interface IbCalibrationRecord {
  readonly schema: 'vnet-model/ib-calibration@1';
  readonly procedure: string;
  /** The Ethernet-fitted values the fit started from (so that it reproduces after the Ethernet fit moves). */
  readonly base: Readonly<Record<string, number>>;
  readonly seed: number;
  readonly stages: readonly IbStageFit[];
  /** Every stage's values together. */
  readonly values: Readonly<Record<string, number>>;
}

export const IB_CALIBRATION_FILE = fileURLToPath(new URL('./ib-calibration.json', import.meta.url));

export function ibCalibrationDocument(base: Readonly<Record<string, number>>, stages: readonly IbStageFit[], seed = 1): IbCalibrationRecord {
  return {
    schema: 'vnet-model/ib-calibration@1',
    procedure: 'two-stage coordinate search in log space over the InfiniBand host parameters, from the Ethernet calibration (model/ib-calibration.ts)',
    base,
    seed,
    stages,
    values: Object.assign({}, ...stages.map((s) => s.values)) as Record<string, number>,
  };
}

function load(): IbCalibrationRecord | undefined {
  const here = new URL('./ib-calibration.json', import.meta.url);
  const file = existsSync(here) ? here : new URL('../../model/ib-calibration.json', import.meta.url);
  if (!existsSync(file)) return undefined;
  const doc = JSON.parse(readFileSync(file, 'utf8')) as IbCalibrationRecord;
  if (doc?.schema !== 'vnet-model/ib-calibration@1' || typeof doc.values !== 'object' || doc.values === null) {
    throw new Error('model/ib-calibration.json is not a vnet-model/ib-calibration@1 document; refit with `npx tsx model/ib-calibration.ts --write`');
  }
  return doc;
}

/** The stored InfiniBand fit (undefined before the first `--write`). */
export const ibCalibrationRecord: IbCalibrationRecord | undefined = load();

/** The calibrated costs with the stored InfiniBand values on top: the costs InfiniBand runs use. */
export const ibCalibratedCosts: Costs = checkCosts({ ...ibFitBase(calibratedCosts), ...(ibCalibrationRecord?.values ?? {}) });

// `npx tsx model/ib-calibration.ts [--write] [--evaluate]`: refit (or, with --evaluate, only
// evaluate the stored fit), print the figures, and with --write store the fit.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const log = (s: string) => console.log(s);
  let costs = ibCalibratedCosts;
  if (!process.argv.includes('--evaluate')) {
    const base = ibFitBase();
    const stages = fitIb(base, 1, log);
    const doc = ibCalibrationDocument(base, stages);
    console.log(JSON.stringify(doc, null, 2));
    if (process.argv.includes('--write')) {
      writeFileSync(IB_CALIBRATION_FILE, `${JSON.stringify(doc, null, 2)}\n`);
      console.log(`written ${IB_CALIBRATION_FILE}`);
    }
    costs = checkCosts({ ...base, ...doc.values });
  }
  for (const f of evaluateIbCalibration(costs)) {
    console.log(`${f.figure}: measured ${f.measured}, model ${f.model.toFixed(3)}, error ${(f.error * 100).toFixed(1)}%${f.fitted ? '' : ' (not fitted)'}`);
  }
}
