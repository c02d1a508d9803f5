/**
 * `npm run bench`: throughput figures, printed and written as JSON to bench-results/latest.json.
 * Timings live here and never in tests. Every figure is the median of several runs.
 *
 * - each catalog machine driven as an xstate actor (events per second), over an event sequence
 *   recorded once from its exploration alphabet with a fixed seed;
 * - exhaustive exploration of each machine's samples (states per second);
 * - the system model: events per second and simulated time per wall second on a 10 Gbps ttcp
 *   stream (vnetp-10g, MTU 1500 and 9000) and on a 64-byte ping train, and the wall time of
 *   `vnet-model report --quick` and of the full report (each once; BENCH_SKIP_FULL_REPORT=1 skips the full one).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createActor, type AnyMachineSnapshot, type EventObject } from 'xstate';
import { catalog, machineIds, type AnyCatalogEntry } from '../machines/index.js';
import { enabledEvents, explore } from '../model/explore.js';
import { calibratedCosts } from '../model/calibrated-costs.js';
import { configuration, type BuiltConfiguration } from '../model/configurations.js';
import { addPing } from '../model/ping.js';
import { addTtcp } from '../model/ttcp.js';
import { main as cliMain } from './main.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** A deterministic xorshift for choosing events; the bench needs no statistical quality. */
function chooser(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Records a long event sequence once, by walking the alphabet (restarting at dead ends). */
function recordEvents(entry: AnyCatalogEntry, input: unknown, n: number): EventObject[][] {
  const next = chooser(12345);
  const runs: EventObject[][] = [];
  let total = 0;
  while (total < n) {
    const actor = createActor(entry.machine, { input: input as never }).start();
    const events: EventObject[] = [];
    for (let i = 0; i < 5_000 && total < n; i++) {
      const s = actor.getSnapshot() as AnyMachineSnapshot;
      const enabled = enabledEvents(entry, s);
      if (enabled.length === 0) break;
      const e = enabled[Math.floor(next() * enabled.length)];
      actor.send(e);
      events.push(e);
      total++;
    }
    actor.stop();
    runs.push(events);
    if (events.length === 0) break;
  }
  return runs;
}

function actorEventsPerSecond(entry: AnyCatalogEntry, input: unknown, runs: EventObject[][]): number {
  const total = runs.reduce((a, r) => a + r.length, 0);
  const t0 = performance.now();
  for (const events of runs) {
    const actor = createActor(entry.machine, { input: input as never });
    actor.on('*', () => {});
    actor.start();
    for (const e of events) actor.send(e);
    actor.stop();
  }
  return total / ((performance.now() - t0) / 1000);
}

const results: {
  machines: { id: string; sample: string; actorEventsPerSecond: number; events: number }[];
  exploration: { id: string; sample: string; states: number; statesPerSecond: number }[];
} = { machines: [], exploration: [] };

for (const id of machineIds) {
  const entry = catalog[id];
  for (const sample of entry.samples) {
    const runs = recordEvents(entry, sample.input, EVENTS);
    const eps = median(Array.from({ length: RUNS }, () => actorEventsPerSecond(entry, sample.input, runs)));
    const events = runs.reduce((a, r) => a + r.length, 0);
    results.machines.push({ id, sample: sample.name, actorEventsPerSecond: Math.round(eps), events });
    console.log(`actor    ${id.padEnd(24)} ${sample.name.padEnd(28)} ${Math.round(eps).toLocaleString('en').padStart(12)} events/s`);
    const timed = Array.from({ length: RUNS }, () => {
      const t0 = performance.now();
      const r = explore(entry, sample.input);
      return { states: r.states, sps: r.states / ((performance.now() - t0) / 1000) };
    });
    const sps = median(timed.map((t) => t.sps));
    results.exploration.push({ id, sample: sample.name, states: timed[0].states, statesPerSecond: Math.round(sps) });
    console.log(`explore  ${id.padEnd(24)} ${sample.name.padEnd(28)} ${Math.round(sps).toLocaleString('en').padStart(12)} states/s (${timed[0].states} states)`);
  }
}

/** Runs one system-model workload and times it: model events/s and simulated ns per wall ns. */
function timeModel(label: string, setup: () => { run: () => number; simulatedNs: number }) {
  const samples = Array.from({ length: RUNS }, () => {
    const w = setup();
    const t0 = performance.now();
    const delivered = w.run();
    const wallMs = performance.now() - t0;
    return { eventsPerSecond: delivered / (wallMs / 1000), simulatedPerWall: w.simulatedNs / 1e6 / wallMs, delivered };
  });
  const r = {
    workload: label,
    modelEventsPerSecond: Math.round(median(samples.map((x) => x.eventsPerSecond))),
    simulatedSecondsPerWallSecond: Number(median(samples.map((x) => x.simulatedPerWall)).toPrecision(4)),
    events: samples[0].delivered,
  };
  console.log(`model    ${label.padEnd(53)} ${r.modelEventsPerSecond.toLocaleString('en').padStart(12)} events/s, ${r.simulatedSecondsPerWallSecond} simulated s per wall s`);
  return r;
}

const vnetp10g = configuration('vnetp-10g') as BuiltConfiguration;
const model = [
  ...[1500, 9000].map((mtu) =>
    timeModel(`ttcp UDP stream, vnetp-10g, MTU ${mtu}, 10 ms simulated`, () => {
      const path = vnetp10g.build({ mtu, costs: calibratedCosts, system: { recorder: { mode: 'ring', capacity: 64 } } });
      addTtcp(path, { mtu, linkBitRate: calibratedCosts.link10GbpsBitRate, costs: calibratedCosts, startNs: 100_000 });
      return { simulatedNs: 10_100_000, run: () => path.system.run({ until: 10_100_000 }).delivered };
    }),
  ),
  timeModel('ping train, 64 B x 500, vnetp-10g, MTU 1500', () => {
    const path = vnetp10g.build({ mtu: 1500, costs: calibratedCosts, system: { recorder: { mode: 'ring', capacity: 64 } } });
    addPing(path, { sizeBytes: 64, mtu: 1500, count: 500, intervalNs: 100_000 });
    let simulatedNs = 0;
    return {
      get simulatedNs() {
        return simulatedNs;
      },
      run: () => {
        const r = path.system.run({ maxEvents: 50_000_000 });
        simulatedNs = r.now;
        return r.delivered;
      },
    };
  }),
];

// The wall time of the report: `--quick` (the main job) and the full report, each run once
// (the full one takes minutes); their output is not shown here.
async function reportWallMs(args: readonly string[]): Promise<number> {
  const log = console.log;
  console.log = () => {};
  const t0 = performance.now();
  try {
    const code = await cliMain(['report', ...args, '--no-progress']);
    if (code !== 0) throw new Error(`report ${args.join(' ')} exited ${code}`);
  } finally {
    console.log = log;
  }
  return performance.now() - t0;
}
const reportMs = await reportWallMs(['--quick']);
console.log(`report   vnet-model report --quick${' '.repeat(27)} ${(reportMs / 1000).toFixed(2).padStart(12)} s wall`);
const fullReportMs = process.env.BENCH_SKIP_FULL_REPORT ? undefined : await reportWallMs([]);
if (fullReportMs !== undefined) console.log(`report   vnet-model report (full)${' '.repeat(28)} ${(fullReportMs / 1000).toFixed(2).padStart(12)} s wall`);

mkdirSync(new URL('../bench-results/', import.meta.url), { recursive: true });
const file = new URL('../bench-results/latest.json', import.meta.url);
writeFileSync(file, JSON.stringify({ node: process.version, runs: RUNS, ...results, model, reportQuickWallSeconds: Number((reportMs / 1000).toFixed(3)), ...(fullReportMs !== undefined ? { reportFullWallSeconds: Number((fullReportMs / 1000).toFixed(3)) } : {}) }, null, 2) + '\n');
console.log(`\nwritten to bench-results/latest.json (median of ${RUNS} runs)`);
