/**
 * Connection-agent properties, as outside monitors of random runs that rebuild the SID and CID
 * tables from the agent's effects alone (`vtoe.sid`, `cid.created`, `released`): SIDs and CIDs are
 * never handed out twice while in use, VTOE events name live SIDs, disconnects reach the guest, a
 * guest's close of a pending request rejects it at the CM, and data is posted on the right queue
 * pair with no copy.
 */
import type { AnyMachineSnapshot } from 'xstate';
import type { AnyCatalogEntry } from '../machines/catalog-entry.js';
import { CONSUMER_REJECT, entry } from '../machines/connection-agent.js';
import type { RandomStep } from '../model/explore.js';
import { stepsProperty, type MachineProperty } from './harness.js';

const e = entry as unknown as AnyCatalogEntry;

type Emit = { type: string; sid?: number; cid?: number | null; name?: string; call?: string; reason?: number; wr?: { id: number; bytes: number } };
const emitted = (step: RandomStep) => step.emitted as unknown as Emit[];
const ev = (step: RandomStep) => step.event as unknown as { type: string; sid?: number; cid?: number; name?: string; bytes?: number; wrId?: number; bufferId?: number };

/** The agent's tables as its effects announce them. */
interface Tables {
  live: Set<number>;
  cidOf: Map<number, number>;
  sidOf: Map<number, number>;
  /** SIDs told CONNECT_ESTABLISHED and not yet DISCONNECTED or DEVICE_REMOVAL. */
  owed: Set<number>;
  /** SIDs told CONNECT_REQUEST whose request was neither accepted, rejected nor ended since. */
  pending: Set<number>;
}

/** Monitor state that starts afresh with each run (a step whose `before` is not the previous step's snapshot). */
function perRun<M>(fresh: () => M) {
  let last: AnyMachineSnapshot | undefined;
  let state: M | undefined;
  return (before: AnyMachineSnapshot, step: RandomStep): M => {
    if (state === undefined || before !== last) state = fresh();
    last = step.snapshot;
    return state;
  };
}

const freshTables = (): Tables => ({ live: new Set(), cidOf: new Map(), sidOf: new Map(), owed: new Set(), pending: new Set() });

/**
 * Applies one effect to the tables; returns a complaint when the effect is inconsistent with them
 * (an id handed out twice, a release of something not held, an event for a dead SID, an
 * established connection released without the guest being told it ended).
 */
function apply(t: Tables, x: Emit): string | undefined {
  switch (x.type) {
    case 'vtoe.sid':
      if (t.live.has(x.sid!)) return `SID ${x.sid} handed out again while still in use`;
      t.live.add(x.sid!);
      return undefined;
    case 'cid.created':
      if (t.sidOf.has(x.cid!)) return `CID ${x.cid} created again while it serves SID ${t.sidOf.get(x.cid!)}`;
      if (!t.live.has(x.sid!)) return `CID ${x.cid} created for SID ${x.sid}, which is not allocated`;
      if (t.cidOf.has(x.sid!)) return `SID ${x.sid} got a second CID ${x.cid}`;
      t.cidOf.set(x.sid!, x.cid!);
      t.sidOf.set(x.cid!, x.sid!);
      return undefined;
    case 'released': {
      if (!t.live.has(x.sid!)) return `SID ${x.sid} released but not allocated`;
      const cid = t.cidOf.get(x.sid!) ?? null;
      if (cid !== x.cid) return `SID ${x.sid} released with CID ${String(x.cid)}, but it holds ${String(cid)}`;
      if (t.owed.has(x.sid!)) return `SID ${x.sid} released after CONNECT_ESTABLISHED without DISCONNECTED or DEVICE_REMOVAL`;
      t.live.delete(x.sid!);
      t.pending.delete(x.sid!);
      if (cid !== null) t.sidOf.delete(cid);
      t.cidOf.delete(x.sid!);
      return undefined;
    }
    case 'vtoe.event':
    case 'vtoe.completion':
      if (!t.live.has(x.sid!)) return `${x.type} ${x.name ?? ''} names SID ${x.sid}, which does not exist`;
      if (x.name === 'CONNECT_ESTABLISHED') t.owed.add(x.sid!);
      if (x.name === 'CONNECT_REQUEST') t.pending.add(x.sid!);
      else if (x.type === 'vtoe.event') t.pending.delete(x.sid!);
      if (x.name === 'DISCONNECTED' || x.name === 'DEVICE_REMOVAL') t.owed.delete(x.sid!);
      return undefined;
    case 'cm.call':
      // An answer to the REQ (REP or REJ) ends the wait for the guest.
      if (x.call === 'ca.accept' || x.call === 'ca.reject') t.pending.delete(t.sidOf.get(x.cid!) ?? -1);
      return undefined;
    default:
      return undefined;
  }
}

function tablesProperty(name: string, extra?: (t: Tables, before: AnyMachineSnapshot, step: RandomStep) => string | undefined) {
  return (machine: Parameters<MachineProperty['property']>[0]) => {
    const monitor = perRun(freshTables);
    return stepsProperty(
      e,
      machine,
      (before, step) => {
        const t = monitor(before, step);
        // The extra check sees the tables as they were before the step.
        const early = extra?.(t, before, step);
        if (early) return early;
        for (const x of emitted(step)) {
          const problem = apply(t, x);
          if (problem) return problem;
        }
        return undefined;
      },
      name,
    );
  };
}

const DISCONNECT_EVENTS = ['DREQ_RECEIVED', 'DREP_RECEIVED', 'DREQ_ERROR'];

export const properties: readonly MachineProperty[] = [
  {
    name: 'connection-agent/ids-never-reused-while-in-use',
    description:
      'A SID is handed out again only after its release, a CID is created only for an allocated SID without one and only when it serves no other SID, and a release names the CID the SID holds: the SID <-> CID map, rebuilt from the effects, stays a bijection.',
    runs: 300,
    property: tablesProperty('connection-agent/ids-never-reused-while-in-use'),
  },
  {
    name: 'connection-agent/vtoe-events-name-live-sids',
    description: 'Every VTOE event and completion the agent raises names a SID that is allocated at that moment.',
    runs: 300,
    property: tablesProperty('connection-agent/vtoe-events-name-live-sids'),
  },
  {
    name: 'connection-agent/disconnect-reaches-guest',
    description:
      'A DREQ, DREP or DREQ timeout the agent acts on becomes DISCONNECTED for the SID of that CID in the same step, and no SID told CONNECT_ESTABLISHED is released before it is told DISCONNECTED or DEVICE_REMOVAL.',
    runs: 300,
    property: tablesProperty('connection-agent/disconnect-reaches-guest', (t, _before, step) => {
      const x = ev(step);
      if (x.type !== 'cm.event' || !DISCONNECT_EVENTS.includes(x.name!) || step.emitted.length === 0) return undefined;
      const sid = t.sidOf.get(x.cid!);
      const told = emitted(step).some((y) => y.type === 'vtoe.event' && y.name === 'DISCONNECTED' && y.sid === sid);
      return told ? undefined : `${x.name} on CID ${x.cid} was acted on but SID ${String(sid)} was not told DISCONNECTED`;
    }),
  },
  {
    name: 'connection-agent/guest-close-rejects-pending-request',
    description:
      'A DISCONNECT of a SID told CONNECT_REQUEST and not yet accepted is not refused: in the same step the agent rejects the REQ on that SID\'s CID (ca.reject, consumer reject 28, as rdma_reject) and starts its time-wait or releases it, so no pending request outlives the guest socket.',
    runs: 300,
    property: tablesProperty('connection-agent/guest-close-rejects-pending-request', (t, _before, step) => {
      const x = ev(step);
      if (x.type !== 'vtoe.disconnect' || !t.pending.has(x.sid!)) return undefined;
      const out = emitted(step);
      const cid = t.cidOf.get(x.sid!);
      if (out.some((y) => y.type === 'vtoe.error')) return `DISCONNECT of SID ${x.sid} with a pending request was refused`;
      if (!out.some((y) => y.type === 'cm.call' && y.call === 'ca.reject' && y.cid === cid && y.reason === CONSUMER_REJECT))
        return `DISCONNECT of SID ${x.sid} with a pending request did not reject it (reason ${CONSUMER_REJECT}) on CID ${String(cid)}: ${JSON.stringify(out)}`;
      if (!out.some((y) => (y.type === 'timer.start' || y.type === 'released') && y.sid === x.sid)) return `SID ${x.sid} was rejected but neither released nor put in time-wait`;
      return undefined;
    }),
  },
  {
    name: 'connection-agent/zero-copy-data-path',
    description:
      'No step copies data; an accepted SEND becomes exactly one post-send of the same work request on the CID of its SID, and an accepted RECV exactly one post-recv of the guest buffer on that CID.',
    runs: 300,
    property: tablesProperty('connection-agent/zero-copy-data-path', (t, _before, step) => {
      const out = emitted(step);
      const copy = out.find((y) => y.type === 'copy');
      if (copy) return `the overlay copied data for SID ${copy.sid}`;
      const x = ev(step);
      if ((x.type !== 'vtoe.send' && x.type !== 'vtoe.recv') || out.some((y) => y.type === 'vtoe.error')) return undefined;
      const want = x.type === 'vtoe.send' ? 'qp.post-send' : 'qp.post-recv';
      const posts = out.filter((y) => y.type === 'qp.post-send' || y.type === 'qp.post-recv');
      if (posts.length !== 1 || posts[0].type !== want) return `${x.type} for SID ${x.sid} posted ${JSON.stringify(posts)}`;
      const p = posts[0];
      const id = x.type === 'vtoe.send' ? x.wrId : x.bufferId;
      if (p.cid !== t.cidOf.get(x.sid!)) return `${x.type} for SID ${x.sid} went to CID ${p.cid}, not ${String(t.cidOf.get(x.sid!))}`;
      if (p.wr?.id !== id || p.wr?.bytes !== x.bytes) return `${x.type} for SID ${x.sid} posted ${JSON.stringify(p.wr)}, not the guest's buffer ${id} of ${x.bytes} bytes`;
      return undefined;
    }),
  },
];
