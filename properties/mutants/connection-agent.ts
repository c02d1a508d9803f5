/** Broken variants of the connection agent, each with the property that must catch it. */
import { enqueueActions } from 'xstate';
import type { AnyCatalogEntry } from '../../machines/catalog-entry.js';
import { entry, type Context, type Event, type Phase } from '../../machines/connection-agent.js';
import type { Mutant } from '../harness.js';

const base = entry.machine;
const e = entry as unknown as AnyCatalogEntry;

type Enqueue = { emit: (x: never) => void; assign: (x: never) => void };
type Args = { context: Context; event: Event; enqueue: Enqueue };

/** Allocation that takes a SID in time-wait as free (its CID mapping is dropped from the SID side only). */
const allocateDuringTimeWait = enqueueActions(({ context, enqueue }: Args) => {
  const sid = context.sids.findIndex((s) => s === null || s.phase === 'time-wait');
  const sids = [...context.sids];
  sids[sid] = { phase: 'open' as Phase, recvs: 0, sends: 0 };
  const sidToCid = [...context.sidToCid];
  sidToCid[sid] = null;
  enqueue.assign({ sids, sidToCid } as never);
  enqueue.emit({ type: 'vtoe.sid', sid } as never);
});

/** Release that frees the SID but leaves the CID -> SID entry behind. */
const releaseLeavingCid = enqueueActions(({ context, event, enqueue }: Args) => {
  if (event.type !== 'timer.timewait') return;
  const cid = context.sidToCid[event.sid];
  const sids = [...context.sids];
  sids[event.sid] = null;
  const sidToCid = [...context.sidToCid];
  sidToCid[event.sid] = null;
  enqueue.assign({ sids, sidToCid, stats: { ...context.stats, released: context.stats.released + 1, releasedAfterTimeWait: context.stats.releasedAfterTimeWait + 1 } } as never);
  enqueue.emit({ type: 'released', sid: event.sid, cid } as never);
});

/** A send that stages the guest's data in an overlay buffer first. */
const copyingSend = enqueueActions(({ context, event, enqueue }: Args) => {
  if (event.type !== 'vtoe.send') return;
  const s = context.sids[event.sid]!;
  const sids = [...context.sids];
  sids[event.sid] = { ...s, sends: s.sends + 1 };
  enqueue.assign({ sids, copies: context.copies + 1, stats: { ...context.stats, sends: context.stats.sends + 1 } } as never);
  enqueue.emit({ type: 'copy', sid: event.sid, bytes: event.bytes } as never);
  enqueue.emit({ type: 'qp.post-send', cid: context.sidToCid[event.sid]!, wr: { id: event.wrId, bytes: event.bytes } } as never);
});

/** Translation as the agent's, but a DISCONNECTED is never raised to the guest. */
const translateDroppingDisconnected = enqueueActions(
  ({ context, event, enqueue }: Args, params: { name: string; next: Phase; call?: string; stat?: keyof Context['stats'] }) => {
    if (event.type !== 'cm.event') return;
    const sid = context.cidToSid[event.cid]!;
    if (params.call === 'ca.rtu') enqueue.emit({ type: 'cm.call', cid: event.cid, call: params.call } as never);
    if (params.name !== 'DISCONNECTED') enqueue.emit({ type: 'vtoe.event', sid, name: params.name } as never);
    if (params.call && params.call !== 'ca.rtu') enqueue.emit({ type: 'cm.call', cid: event.cid, call: params.call } as never);
    const sids = [...context.sids];
    sids[sid] = { ...sids[sid]!, phase: params.next };
    const stats = params.stat ? { ...context.stats, [params.stat]: context.stats[params.stat] + 1 } : context.stats;
    enqueue.assign({ sids, stats } as never);
    if (params.next === 'time-wait') enqueue.emit({ type: 'timer.start', timer: 'timewait', sid, delayNs: context.p.timeWaitNs } as never);
  },
);

/** The defect the timed VTOE composition found: DISCONNECT of a SID with a pending request is refused (EINVAL) and the REQ never answered. */
const refusePendingClose = enqueueActions(({ context, event, enqueue }: Args) => {
  if (event.type !== 'vtoe.disconnect') return;
  enqueue.assign({ stats: { ...context.stats, refused: context.stats.refused + 1 } } as never);
  enqueue.emit({ type: 'vtoe.error', op: event.type, sid: event.sid, reason: 'EINVAL' } as never);
});

export const mutants: readonly Mutant[] = [
  {
    name: 'connection-agent/pending-request-close-refused',
    description: 'The guest closes a SID whose CONNECT_REQUEST it has not accepted; the agent refuses the DISCONNECT (EINVAL) and never rejects the REQ, so SID and shadow are held for ever.',
    entry: e,
    machine: base.provide({ actions: { rejectRequest: refusePendingClose as never } }),
    caughtBy: 'connection-agent/guest-close-rejects-pending-request',
  },
  {
    name: 'connection-agent/disconnected-dropped',
    description: 'A DREQ, DREP or DREQ timeout moves the SID to time-wait but the guest is never told DISCONNECTED.',
    entry: e,
    machine: base.provide({ actions: { translate: translateDroppingDisconnected as never } }),
    caughtBy: 'connection-agent/disconnect-reaches-guest',
  },
  {
    name: 'connection-agent/sid-reused-during-time-wait',
    description: 'A SID whose connection is still in time-wait is handed to the guest again for a new socket.',
    entry: e,
    machine: base.provide({ actions: { allocateSid: allocateDuringTimeWait as never }, guards: { sidFree: (({ context }: { context: Context }) => context.sids.some((s) => s === null || s.phase === 'time-wait')) as never } }),
    caughtBy: 'connection-agent/ids-never-reused-while-in-use',
  },
  {
    name: 'connection-agent/cid-leaks-on-release',
    description: 'The release after time-wait frees the SID but leaves its CID mapped: the CID leaks.',
    entry: e,
    machine: base.provide({ actions: { release: releaseLeavingCid as never } }),
    caughtBy: 'invariant:no-cid-without-live-sid',
  },
  {
    name: 'connection-agent/send-copies',
    description: 'The overlay copies the guest\'s data into its own buffer before posting the send.',
    entry: e,
    machine: base.provide({ actions: { postSend: copyingSend as never } }),
    caughtBy: 'connection-agent/zero-copy-data-path',
  },
];
