/**
 * Shared pieces of the VNET+VTOE composition properties (`model/vtoe-path.ts`): the arbitrary
 * workload (connections, app behaviour through the seed, faults), one run to quiescence, the
 * property checks stated in protocol terms over what the run recorded, and the three broken
 * variants of the issue (a QP moved to RTS before RTR; the time-wait skipped so that SIDs and CIDs
 * are reused at once; a DISCONNECTED event dropped on its way to the guest).
 *
 * Each check returns the problems it found (empty: the property holds for that run).
 */
import fc from 'fast-check';
import { enqueueActions } from 'xstate';
import { connectionAgentMachine, type Context as AgentContext, type Phase } from '../machines/connection-agent.js';
import { QP_PLAN, qpMoves, shadowConnectionMachine, type Context as ShadowContext, type QpStep } from '../machines/shadow-connection.js';
import { HOSTS, runVtoePath, type ConnectionPlan, type Fault, type Host, type VtoePath, type VtoePathOptions } from '../model/vtoe-path.js';

export interface Workload {
  readonly connections: readonly ConnectionPlan[];
  readonly fault?: Fault;
  readonly seed: number;
}

const planArb: fc.Arbitrary<ConnectionPlan> = fc.record({
  listen: fc.integer({ min: 0, max: 4 }).map((n) => n > 0),
  resolve: fc.constantFrom<ConnectionPlan['resolve']>('ok', 'ok', 'ok', 'ok', 'ok', 'address-error', 'route-error'),
  sendsA: fc.integer({ min: 0, max: 4 }),
  sendsB: fc.integer({ min: 0, max: 4 }),
});

const faultArb: fc.Arbitrary<Fault | undefined> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('link-down' as const), atNs: fc.integer({ min: 0, max: 500_000 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('device-removal' as const), host: fc.constantFrom<Host>('A', 'B'), atNs: fc.integer({ min: 0, max: 500_000 }) }),
  },
);

/**
 * A workload: 1-3 connections one after another (A active, B passive, or nobody listening), the
 * messages each side sends, and at most one fault. The seed drives every delay (fabric, VM exits,
 * interrupts) and every app decision (when to accept, send, post buffers and close), so runs
 * interleave both hosts differently.
 */
export const workloadArb = (o: { faults?: boolean } = {}): fc.Arbitrary<Workload> =>
  fc.record({
    connections: fc.array(planArb, { minLength: 1, maxLength: 3 }),
    fault: o.faults === false ? fc.constant(undefined) : faultArb,
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
  });

/** Fault-free workloads with at least one connection that can be established. */
export const cleanWorkloadArb: fc.Arbitrary<Workload> = workloadArb({ faults: false });

export type Variant = Pick<VtoePathOptions, 'machines' | 'brokenGlue'>;

/** Runs a workload to quiescence with ring-buffered tracing (the checks read the run's log). */
export function play(w: Workload, variant: Variant = {}): VtoePath & { stoppedBy: string } {
  return runVtoePath({
    connections: w.connections,
    fault: w.fault,
    seed: w.seed,
    ...variant,
    // A correct run also checks every machine's catalog invariants after each step; a variant is
    // run without them, so that it is caught by the cross-machine property, not by its own invariant.
    system: { recorder: { mode: 'ring', capacity: 50 }, checkInvariants: variant.machines === undefined && variant.brokenGlue === undefined },
  });
}

const stateOf = (p: VtoePath, name: string) => p.system.snapshot(name).value as string;

/** Correspondence: a socket enters ESTABLISHED only with its shadow connection ESTABLISHED and its QP in RTS; at quiescence no socket is left open (every failure reached its guest). */
export function correspondence(p: VtoePath & { stoppedBy: string }): string[] {
  const out = p.log.violations.filter((v) => v.kind === 'correspondence').map((v) => `at ${v.atNs} ns: ${v.what}`);
  if (p.stoppedBy !== 'empty') out.push(`the run did not quiesce (${p.stoppedBy})`);
  for (const c of p.log.conns) {
    for (const h of HOSTS) {
      const s = c.side[h].socket;
      if (s && stateOf(p, s) !== 'CLOSED') out.push(`${s} left in ${stateOf(p, s)} after the run quiesced`);
    }
  }
  return out;
}

const ERROR_STATUSES = new Set(['flush-error', 'retry-exceeded', 'rnr-retry-exceeded']);

/**
 * Data: per connection and direction, what reached the receiving guest is the sent sequence's
 * prefix (each message once, in order); a message whose send completed successfully arrived; a
 * message that did not arrive completed with an error (flush) at its sender; without a fault,
 * everything sent on a connection both sides established arrived and completed successfully; and
 * when something was lost, each guest that had the connection was told it failed.
 */
export function data(p: VtoePath): string[] {
  const out: string[] = [];
  const faulty = p.opts.fault !== undefined;
  for (const c of p.log.conns) {
    for (const h of HOSTS) {
      const peer: Host = h === 'A' ? 'B' : 'A';
      const tx = c.side[h];
      const rx = c.side[peer];
      const what = `connection ${c.index} ${h}->${peer}`;
      const prefix = tx.posted.slice(0, rx.delivered.length);
      if (rx.delivered.length > tx.posted.length || rx.delivered.some((id, i) => id !== prefix[i])) {
        out.push(`${what}: delivered ${rx.delivered.join(',')} is not a prefix of sent ${tx.posted.join(',')}`);
      }
      const removed = p.log.removedAtNs[h] !== undefined;
      for (const id of tx.posted) {
        const st = tx.sendStatus.get(id);
        const arrived = rx.delivered.includes(id);
        if (st === 'success' && !arrived) out.push(`${what}: message ${id} completed successfully but never arrived`);
        if (!arrived && !removed && (st === undefined || !ERROR_STATUSES.has(st))) out.push(`${what}: message ${id} was lost without an error completion (${st ?? 'none'})`);
      }
      const lost = tx.posted.length - rx.delivered.length;
      if (!faulty && tx.established && rx.established) {
        const planned = h === 'A' ? c.plan.sendsA : c.plan.sendsB;
        if (tx.posted.length !== planned || lost !== 0) out.push(`${what}: without a fault ${rx.delivered.length} of ${planned} messages arrived`);
        for (const [id, st] of tx.sendStatus) if (st !== 'success') out.push(`${what}: without a fault message ${id} completed with ${st}`);
      }
      if (lost > 0) {
        // Told: the socket failed with an errno, or the guest's own work completed with an error.
        const told = (g: Host) => c.side[g].errors.length > 0 || [...c.side[g].sendStatus.values()].some((st) => ERROR_STATUSES.has(st));
        for (const g of [h, peer] as const) {
          if (c.side[g].established && !told(g)) out.push(`${what}: ${lost} messages lost but guest ${g} was never told the connection failed`);
        }
      }
    }
  }
  return out;
}

/**
 * Resources: a SID and its CID are released only once the shadow connection's IB time-wait is over
 * (or it never connected), with no work request left on the QP; the SID <-> CID map is a bijection
 * after every step; at quiescence every SID, CID and QP of a host with its device is released.
 */
export function resources(p: VtoePath & { stoppedBy: string }): string[] {
  const out = p.log.violations.filter((v) => v.kind === 'release' || v.kind === 'bijection').map((v) => `at ${v.atNs} ns: ${v.what}`);
  if (p.stoppedBy !== 'empty') out.push(`the run did not quiesce (${p.stoppedBy})`);
  for (const x of p.liveCids()) out.push(`${x.host}: CID ${x.cid} never released (shadow ${stateOf(p, x.cm)}, QP ${stateOf(p, x.qp)})`);
  for (const h of HOSTS) {
    const s = p.system.snapshot(`${h}.ca`);
    const held = (s.context as AgentContext).sids.flatMap((e, sid) => (e ? [`${sid} (${e.phase})`] : []));
    if (held.length) out.push(`${h}: SIDs ${held.join(', ')} still held after quiescence`);
  }
  return out;
}

/** The rdma_cm order a guest may see per connection (protocol-notes.md §4), as an automaton of our own. */
const ORDER: Readonly<Record<'active' | 'passive', Readonly<Record<string, Readonly<Record<string, string>>>>>> = {
  active: {
    start: { ADDRESS_RESOLVED: 'addr', ADDRESS_ERROR: 'end' },
    addr: { ROUTE_RESOLVED: 'route', ROUTE_ERROR: 'end' },
    route: { CONNECT_ESTABLISHED: 'up', CONNECT_RESPONSE: 'up', CONNECT_REJECTED: 'end', UNREACHABLE: 'end', CONNECT_ERROR: 'end' },
    up: { DISCONNECTED: 'end' },
    end: {},
  },
  passive: {
    start: { CONNECT_REQUEST: 'req' },
    req: { CONNECT_ESTABLISHED: 'up', CONNECT_REJECTED: 'start', UNREACHABLE: 'start', DISCONNECTED: 'start' },
    up: { DISCONNECTED: 'end' },
    end: {},
  },
};

/**
 * Legality: no QP modify outside the legal transitions (no `modify.failed`); the NIC never had to
 * refuse an event; every VTOE event sequence a guest saw follows the rdma_cm order; nothing is
 * delivered after DEVICE_REMOVAL.
 */
export function legality(p: VtoePath): string[] {
  const out = p.log.violations.filter((v) => v.kind === 'legality' || v.kind === 'order' || v.kind === 'after-removal').map((v) => `at ${v.atNs} ns: ${v.what}`);
  for (const c of p.log.conns) {
    for (const h of HOSTS) {
      const role = h === 'A' ? 'active' : 'passive';
      let at = 'start';
      let removed = false;
      for (const name of c.side[h].events) {
        if (removed) {
          out.push(`connection ${c.index} ${h}: ${name} after DEVICE_REMOVAL`);
          continue;
        }
        if (name === 'DEVICE_REMOVAL') {
          removed = true;
          continue;
        }
        const next = ORDER[role][at][name];
        if (next === undefined) out.push(`connection ${c.index} ${h} (${role}): ${name} after ${c.side[h].events.join(',')} breaks the rdma_cm order at ${at}`);
        else at = next;
      }
    }
  }
  return out;
}

/** fast-check property over workloads that `check` finds nothing wrong with, for a variant. */
export function holds(check: (p: VtoePath & { stoppedBy: string }) => string[], arb: fc.Arbitrary<Workload>, variant: Variant = {}) {
  return fc.property(arb, (w) => {
    const problems = check(play(w, variant));
    if (problems.length) throw new Error(problems.slice(0, 5).join('\n'));
  });
}

// ---- the broken variants -----------------------------------------------------------------------

/** The shadow connection moves its QP to RTS before RTR (it believes the QP is where it asked). */
export const rtsBeforeRtr = shadowConnectionMachine.provide({
  actions: {
    qpStep: enqueueActions(({ context, enqueue }, params: { step: QpStep }) => {
      const { modifies, qp } = qpMoves(QP_PLAN, context as ShadowContext, params.step);
      const i = modifies.findIndex((m) => m.to === 'RTR');
      const swapped = i >= 0 && modifies[i + 1]?.to === 'RTS' ? [modifies[i + 1], modifies[i], ...modifies.slice(i + 2)] : modifies;
      for (const m of swapped) enqueue.emit(m);
      enqueue.assign({ qp });
    }),
  },
});

/** The agent skips the time-wait: a SID and its CID are released as soon as the connection ends. */
export const skipTimeWait = connectionAgentMachine.provide({
  actions: {
    translate: enqueueActions(({ context: c0, event, enqueue }, params: { name: string; next: Phase; call?: string; stat?: string }) => {
      const context = c0 as AgentContext;
      if (event.type !== 'cm.event') return;
      const sid = context.cidToSid[event.cid];
      if (sid === null || sid === undefined) return;
      if (params.call === 'ca.rtu') enqueue.emit({ type: 'cm.call', cid: event.cid, call: 'ca.rtu' });
      enqueue.emit({ type: 'vtoe.event', sid, name: params.name as 'DISCONNECTED' });
      if (params.call && params.call !== 'ca.rtu') enqueue.emit({ type: 'cm.call', cid: event.cid, call: params.call as 'ca.disconnect' });
      const sids = [...context.sids];
      const sidToCid = [...context.sidToCid];
      const cidToSid = [...context.cidToSid];
      if (params.next === 'time-wait') {
        sids[sid] = null;
        sidToCid[sid] = null;
        cidToSid[event.cid] = null;
        enqueue.assign({ sids, sidToCid, cidToSid });
        enqueue.emit({ type: 'released', sid, cid: event.cid });
      } else {
        sids[sid] = { ...context.sids[sid]!, phase: params.next };
        enqueue.assign({ sids });
      }
    }),
  },
});

export const MUTANTS: readonly { readonly name: string; readonly variant: Variant; readonly caughtBy: readonly string[] }[] = [
  { name: 'QP to RTS before RTR', variant: { machines: { shadow: rtsBeforeRtr } }, caughtBy: ['correspondence', 'data', 'resources', 'legality'] },
  { name: 'time-wait skipped, SID and CID reused at once', variant: { machines: { agent: skipTimeWait } }, caughtBy: ['resources'] },
  { name: 'DISCONNECTED dropped on its way to the guest', variant: { brokenGlue: { dropDisconnected: true } }, caughtBy: ['correspondence', 'data'] },
];
