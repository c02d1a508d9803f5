/**
 * HPCC-style communication tests over n hosts (dissertation chapter 6, HPCC on 2 to 6 nodes;
 * calibration.md "HPCC ping-pong"): the b_eff ping-pong between pairs of ranks and the natural
 * ring, over OpenMPI's TCP BTL as model/mpi.ts models it (`BtlChannel`), on the guest TCP of
 * model/tcp.ts, on an n-host path (model/overlay-path.ts `buildHostsPath`, hosts A..F on one
 * switch), one rank per host.
 *
 * - Ping-pong: for each pair of ranks in turn (the others idle), rank i sends a message to rank j,
 *   which sends it back; t = the time of n repetitions / 2n. Latency with 8-byte messages,
 *   bandwidth = 2,000,000 bytes / t (HPCC's message sizes). Both averaged over the pairs.
 * - Natural ring: all ranks at once; in each repetition every rank sends a message to its right
 *   neighbour and one to its left neighbour and receives one from each (HPCC's two MPI_Sendrecv),
 *   t = the time of n repetitions / n, the slowest rank's. Latency = t / 2 (per exchange) with
 *   8-byte messages; bandwidth per rank = 2 x 2,000,000 bytes / t.
 * - Bandwidths in MB/s with MB = 10^6 bytes (HPCC reports decimal GB/s).
 * - Repetitions are the model's (HPCC's own depend on its time budget): full runs every pair,
 *   100 latency and 4 bandwidth repetitions after warm-ups; `quick` only the pairs (A, X), 5 and 1.
 *
 * Times are read from the recorded stream: `hpcc.start` / `hpcc.end` { test, key } effects of the
 * ranks (`X.mpi`).
 */
import { EXPERIMENT_NIC, type BuiltConfiguration } from './configurations.js';
import type { Costs } from './costs.js';
import { BtlChannel, OMPI_TCP_SOCKET_BUFFER } from './mpi.js';
import { buildHostsPath, HOST_NAMES, type HostName, type TwoHostPath } from './overlay-path.js';
import { addTcp } from './tcp.js';
import type { ComponentContext, SystemOptions } from './wiring.js';

export const HPCC_LATENCY_BYTES = 8;
export const HPCC_BANDWIDTH_BYTES = 2_000_000;

export interface HpccPlan {
  readonly latencyReps: number;
  readonly bandwidthReps: number;
  readonly warmup: number;
  /** Ping-pong pairs: all, or only those with host A (quick). */
  readonly pairs: 'all' | 'first';
}

export const hpccPlan = (quick: boolean): HpccPlan =>
  quick ? { latencyReps: 5, bandwidthReps: 1, warmup: 1, pairs: 'first' } : { latencyReps: 100, bandwidthReps: 4, warmup: 2, pairs: 'all' };

export interface HpccResult {
  readonly pingPongLatencyUs: number;
  readonly pingPongBandwidthMBs: number;
  readonly ringLatencyUs: number;
  readonly ringBandwidthMBs: number;
  readonly pairs: number;
}

type HostsBuild = (o: { mtu: number; costs: Costs; seed?: number; system?: Omit<SystemOptions, 'seed'>; hosts: number }) => TwoHostPath;

/** The n-host build of an Ethernet configuration: its kind, optimizations, link and NIC settings, `hosts` hosts on one switch. */
export function hostsBuild(c: BuiltConfiguration): HostsBuild {
  return (o) => buildHostsPath({ kind: c.kind, plus: c.plus, mtu: o.mtu, linkBitRate: o.costs[c.link], nic: EXPERIMENT_NIC, costs: o.costs, seed: o.seed, system: o.system, hosts: o.hosts });
}

const connName = (a: HostName, b: HostName) => `${a}-${b}`;

/**
 * Adds one rank per host and a driver (`hpcc.driver`) that runs the ping-pong pairs one after the
 * other, then the ring with 8-byte and then 2,000,000-byte messages. Effects: `hpcc.start` /
 * `hpcc.end` { test, key } around each timed loop (at the initiating rank for ping-pong, at each
 * rank for the ring), `hpcc.done` from the driver at the end.
 */
export function addHpcc(path: TwoHostPath, plan: HpccPlan, o: { readonly mtu: number; readonly costs: Costs }): void {
  const sys = path.system;
  const hosts = path.hosts;
  const n = hosts.length;
  const tcp = addTcp(path, { mtu: o.mtu, costs: o.costs });
  const apps = Object.fromEntries(hosts.map((h) => [h, `${h}.mpi`])) as Partial<Record<HostName, string>>;
  const pairs: [HostName, HostName][] = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (plan.pairs === 'all' || i === 0) pairs.push([hosts[i], hosts[j]]);
  // One connection per pair of ranks that talk: the ping-pong pairs and the ring's neighbours.
  const links = new Set<string>();
  const link = (a: HostName, b: HostName) => {
    const [x, y] = hosts.indexOf(a) < hosts.indexOf(b) ? [a, b] : [b, a];
    const name = connName(x, y);
    if (!links.has(name)) {
      links.add(name);
      tcp.connect({ name, from: x, to: y, apps, sndbufBytes: OMPI_TCP_SOCKET_BUFFER, rcvbufBytes: OMPI_TCP_SOCKET_BUFFER, nodelay: true });
    }
    return name;
  };
  for (const [a, b] of pairs) link(a, b);
  for (let i = 0; i < n; i++) link(hosts[i], hosts[(i + 1) % n]);

  type Test = { test: string; key: string };
  const ranks = new Map<HostName, { pingPong(ctx: ComponentContext, peer: HostName, size: number, reps: number, t: Test): void; ring(ctx: ComponentContext, size: number, reps: number, t: Test): void }>();

  hosts.forEach((h, idx) => {
    const channels = new Map<string, BtlChannel>();
    let phase: 'idle' | 'pp' | 'echo' | 'ring' = 'idle';
    // Ping-pong initiator state.
    let ppLeft = 0;
    let ppPeer: HostName | undefined;
    let ppSize = 0;
    let ppTest: Test | undefined;
    let ppDone = 0;
    // Ring state.
    let ringSize = 0;
    let ringReps = 0;
    let ringIter = 0;
    let ringRecv = 0;
    let ringSent = 0;
    let ringTest: Test | undefined;
    const right = hosts[(idx + 1) % n];
    const left = hosts[(idx + n - 1) % n];

    const channelTo = (peer: HostName) => channels.get(connName(...((hosts.indexOf(h) < hosts.indexOf(peer) ? [h, peer] : [peer, h]) as [HostName, HostName])))!;

    const onMessage = (ctx: ComponentContext, from: HostName, bytes: number) => {
      if (phase === 'ring') {
        ringRecv++;
        ringStep(ctx);
      } else if (phase === 'pp' && from === ppPeer) {
        ppDone++;
        if (ppDone === plan.warmup) ctx.emit({ type: 'hpcc.start', ...ppTest! });
        if (ppDone === ppLeft) {
          ctx.emit({ type: 'hpcc.end', ...ppTest! });
          phase = 'idle';
          ctx.schedule(0, 'hpcc.driver', { type: 'pp.done' });
        } else {
          channelTo(ppPeer).send(ctx, ppSize, () => {});
        }
      } else {
        // Another rank's ping-pong: send it back.
        channelTo(from).send(ctx, bytes, () => {});
      }
    };

    for (const name of links) {
      const [a, b] = name.split('-') as [HostName, HostName];
      if (a !== h && b !== h) continue;
      const peer = a === h ? b : a;
      const first = (idx + 1) * 10_000_000 + hosts.indexOf(peer) * 1_000_000;
      channels.set(name, new BtlChannel(`${h}.mpi`, name, tcp.component(h), `${peer}.mpi`, first, (ctx, _seq, bytes) => onMessage(ctx, peer, bytes)));
    }

    const ringSend = (ctx: ComponentContext) => {
      if (ringIter === plan.warmup) ctx.emit({ type: 'hpcc.start', ...ringTest! });
      for (const peer of [right, left]) {
        channelTo(peer).send(ctx, ringSize, (c) => {
          ringSent++;
          ringStep(c);
        });
      }
    };

    const ringStep = (ctx: ComponentContext) => {
      // A repetition is over when both its sends are taken and both its messages have come.
      if (ringRecv < 2 * (ringIter + 1) || ringSent < 2 * (ringIter + 1)) return;
      ringIter++;
      if (ringIter === ringReps) {
        ctx.emit({ type: 'hpcc.end', ...ringTest! });
        phase = 'idle';
        ctx.schedule(0, 'hpcc.driver', { type: 'ring.done' });
        return;
      }
      ringSend(ctx);
    };

    ranks.set(h, {
      pingPong: (ctx, peer, size, reps, t) => {
        phase = 'pp';
        ppPeer = peer;
        ppSize = size;
        ppLeft = plan.warmup + reps;
        ppDone = 0;
        ppTest = t;
        if (plan.warmup === 0) ctx.emit({ type: 'hpcc.start', ...t });
        channelTo(peer).send(ctx, size, () => {});
      },
      ring: (ctx, size, reps, t) => {
        phase = 'ring';
        ringSize = size;
        ringReps = plan.warmup + reps;
        ringIter = 0;
        ringRecv = 0;
        ringSent = 0;
        ringTest = t;
        ringSend(ctx);
      },
    });

    sys.addComponent(`${h}.mpi`, (ev, ctx) => {
      if (ev.type === 'hpcc.pp') {
        const e = ev as unknown as { peer: HostName; size: number; reps: number; test: string; key: string };
        ranks.get(h)!.pingPong(ctx, e.peer, e.size, e.reps, { test: e.test, key: e.key });
      } else if (ev.type === 'hpcc.ring') {
        const e = ev as unknown as { size: number; reps: number; test: string };
        ranks.get(h)!.ring(ctx, e.size, e.reps, { test: e.test, key: h });
      } else {
        const conn = (ev as { conn?: string }).conn;
        const ch = conn === undefined ? undefined : channels.get(conn);
        if (ch) ch.handle(ev, ctx);
      }
    });
  });

  // The driver: the ping-pong steps one after the other, then the two rings (a barrier between).
  const steps: ({ kind: 'pp'; a: HostName; b: HostName; size: number; reps: number; test: string } | { kind: 'ring'; size: number; reps: number; test: string })[] = [];
  for (const [a, b] of pairs) {
    steps.push({ kind: 'pp', a, b, size: HPCC_LATENCY_BYTES, reps: plan.latencyReps, test: 'pp-latency' });
    steps.push({ kind: 'pp', a, b, size: HPCC_BANDWIDTH_BYTES, reps: plan.bandwidthReps, test: 'pp-bandwidth' });
  }
  steps.push({ kind: 'ring', size: HPCC_LATENCY_BYTES, reps: plan.latencyReps, test: 'ring-latency' });
  steps.push({ kind: 'ring', size: HPCC_BANDWIDTH_BYTES, reps: plan.bandwidthReps, test: 'ring-bandwidth' });
  let step = -1;
  let ringDone = 0;
  const next = (ctx: ComponentContext) => {
    step++;
    if (step >= steps.length) {
      ctx.emit({ type: 'hpcc.done' });
      return;
    }
    const s = steps[step];
    if (s.kind === 'pp') ctx.schedule(0, `${s.a}.mpi`, { type: 'hpcc.pp', peer: s.b, size: s.size, reps: s.reps, test: s.test, key: `${s.a}-${s.b}` });
    else {
      ringDone = 0;
      for (const h of hosts) ctx.schedule(0, `${h}.mpi`, { type: 'hpcc.ring', size: s.size, reps: s.reps, test: s.test });
    }
  };
  sys.addComponent('hpcc.driver', (ev, ctx) => {
    if (ev.type === 'hpcc.begin' || ev.type === 'pp.done') next(ctx);
    else if (ev.type === 'ring.done' && ++ringDone === n) next(ctx);
  });
  sys.scheduleAt(100_000, 'hpcc.driver', { type: 'hpcc.begin' });
}

/** HPCC ping-pong and natural ring over `hosts` hosts (2 to 6) of a configuration's n-host build. */
export function measureHpcc(build: HostsBuild, o: { readonly hosts: number; readonly mtu: number; readonly costs: Costs; readonly seed?: number; readonly quick?: boolean; readonly plan?: HpccPlan }): HpccResult {
  if (!Number.isInteger(o.hosts) || o.hosts < 2 || o.hosts > HOST_NAMES.length) throw new RangeError(`hpcc hosts must be an integer from 2 to ${HOST_NAMES.length}, got ${o.hosts}`);
  const plan = o.plan ?? hpccPlan(o.quick ?? false);
  for (const k of ['latencyReps', 'bandwidthReps'] as const) if (!Number.isInteger(plan[k]) || plan[k] < 1) throw new RangeError(`hpcc plan ${k} must be a positive integer, got ${plan[k]}`);
  if (!Number.isInteger(plan.warmup) || plan.warmup < 0) throw new RangeError(`hpcc plan warmup must be a non-negative integer, got ${plan.warmup}`);
  const path = build({ mtu: o.mtu, costs: o.costs, seed: o.seed, hosts: o.hosts, system: { recorder: { mode: 'ring', capacity: 64 } } });
  addHpcc(path, plan, { mtu: o.mtu, costs: o.costs });
  const spans = new Map<string, { start?: number; end?: number }>();
  let done = false;
  path.system.recorder.observe((r) => {
    if (r.kind !== 'effect') return;
    if (r.type === 'hpcc.done') done = true;
    if (r.type !== 'hpcc.start' && r.type !== 'hpcc.end') return;
    const p = r.payload as { test: string; key: string };
    const k = `${p.test} ${p.key}`;
    const s = spans.get(k) ?? {};
    if (r.type === 'hpcc.start') s.start = r.t;
    else s.end = r.t;
    spans.set(k, s);
  });
  path.system.run({ maxEvents: 500_000_000 });
  if (!done) throw new Error(`hpcc over ${o.hosts} hosts at MTU ${o.mtu}: the run did not finish`);
  const times = (test: string): number[] =>
    [...spans.entries()]
      .filter(([k]) => k.startsWith(`${test} `))
      .map(([k, s]) => {
        if (s.start === undefined || s.end === undefined) throw new Error(`hpcc: no timed span for ${k}`);
        return s.end - s.start;
      });
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  // Ping-pong: per pair t = span / 2n; ring: the slowest rank's span / n.
  const ppLat = times('pp-latency').map((ns) => ns / (2 * plan.latencyReps) / 1000);
  const ppBw = times('pp-bandwidth').map((ns) => HPCC_BANDWIDTH_BYTES / (ns / (2 * plan.bandwidthReps) / 1e9) / 1e6);
  const ringLatT = Math.max(...times('ring-latency')) / plan.latencyReps;
  const ringBwT = Math.max(...times('ring-bandwidth')) / plan.bandwidthReps;
  return {
    pingPongLatencyUs: mean(ppLat),
    pingPongBandwidthMBs: mean(ppBw),
    ringLatencyUs: ringLatT / 2 / 1000,
    ringBandwidthMBs: (2 * HPCC_BANDWIDTH_BYTES) / (ringBwT / 1e9) / 1e6,
    pairs: ppLat.length,
  };
}

/** The `hpcc` runner of an Ethernet configuration (the `WorkloadRunners` contract, model/experiments.ts). */
export function hpccRunner(c: BuiltConfiguration): (o: { readonly mtu: number; readonly costs: Costs; readonly seed: number; readonly quick: boolean; readonly hosts: number }) => {
  pingPongLatencyUs: number;
  pingPongBandwidthMBs: number;
  ringLatencyUs: number;
  ringBandwidthMBs: number;
} {
  return (o) => {
    const r = measureHpcc(hostsBuild(c), o);
    return { pingPongLatencyUs: r.pingPongLatencyUs, pingPongBandwidthMBs: r.pingPongBandwidthMBs, ringLatencyUs: r.ringLatencyUs, ringBandwidthMBs: r.ringBandwidthMBs };
  };
}
