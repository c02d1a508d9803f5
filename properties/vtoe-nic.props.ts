/**
 * VTOE NIC properties, as outside monitors of random runs: the events each socket is delivered
 * follow the rdma_cm order (an automaton written here as data, independently of the machine's own
 * place tracking), the EQ delivers every accepted event once and in order, interrupts are raised
 * exactly when the EQ goes non-empty, and VWQEs reach the overlay at the doorbell in posting order.
 */
import type { AnyMachineSnapshot } from 'xstate';
import type { AnyCatalogEntry } from '../machines/catalog-entry.js';
import { entry } from '../machines/vtoe-nic.js';
import type { RandomStep } from '../model/explore.js';
import { stepsProperty, type MachineProperty } from './harness.js';

const e = entry as unknown as AnyCatalogEntry;

type Emit = { type: string; sid?: number; name?: string; cmd?: string; vwqe?: { kind: string; sid: number; bytes: number } };
const emitted = (step: RandomStep) => step.emitted as unknown as Emit[];
const ev = (step: RandomStep) => step.event as unknown as { type: string; sid?: number; name?: string; bytes?: number; bufferId?: number };

/**
 * The rdma_cm order per socket id (protocol-notes.md §4 "States", "Ordered event sequences",
 * invariants 1-4), with VTOE names (§4.6.3) and the guest's commands as inputs. `ev:` inputs are
 * events delivered to the guest, `cmd:` inputs commands the NIC passed on. A socket whose
 * connection ended may be opened again; `removed` has no way out.
 */
export const RDMA_CM_ORDER: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  idle: { 'cmd:CONNECT': 'addr-query', 'cmd:LISTEN': 'listen' },
  'addr-query': { 'ev:ADDRESS_RESOLVED': 'route-query', 'ev:ADDRESS_ERROR': 'idle' },
  'route-query': { 'ev:ROUTE_RESOLVED': 'connect-sent', 'ev:ROUTE_ERROR': 'idle' },
  'connect-sent': {
    'ev:CONNECT_ESTABLISHED': 'established',
    'ev:CONNECT_RESPONSE': 'established',
    'ev:CONNECT_REJECTED': 'idle',
    'ev:UNREACHABLE': 'idle',
    'ev:CONNECT_ERROR': 'idle',
  },
  // A socket id left listening may listen again (its listener was closed and the id handed out anew).
  listen: { 'ev:CONNECT_REQUEST': 'request', 'cmd:LISTEN': 'listen' },
  request: { 'cmd:ACCEPT': 'accept-sent', 'ev:CONNECT_REJECTED': 'listen', 'ev:UNREACHABLE': 'listen' },
  'accept-sent': { 'ev:CONNECT_ESTABLISHED': 'established', 'ev:DISCONNECTED': 'ended', 'ev:CONNECT_REJECTED': 'listen', 'ev:UNREACHABLE': 'listen' },
  established: { 'ev:DISCONNECTED': 'ended' },
  ended: { 'cmd:CONNECT': 'addr-query', 'cmd:LISTEN': 'listen' },
  removed: {},
};

/** The next monitor state, with the inputs every live socket accepts (DISCONNECT, DEVICE_REMOVAL). */
export function orderStep(state: string, input: string): string | undefined {
  if (state === 'removed') return undefined;
  if (input === 'ev:DEVICE_REMOVAL') return 'removed';
  if (input === 'cmd:DISCONNECT') return state;
  return RDMA_CM_ORDER[state]?.[input];
}


/**
 * Monitor state that starts afresh with each run: a step whose `before` is not the previous
 * step's snapshot begins a new run.
 */
function perRun<M>(fresh: (first: AnyMachineSnapshot) => M) {
  let last: AnyMachineSnapshot | undefined;
  let state: M | undefined;
  return (before: AnyMachineSnapshot, step: RandomStep): M => {
    if (state === undefined || before !== last) state = fresh(before);
    last = step.snapshot;
    return state;
  };
}

export const properties: readonly MachineProperty[] = [
  {
    name: 'vtoe-nic/delivered-events-follow-rdma-cm-order',
    description:
      'Per socket, the commands passed on and the events delivered to the guest form a sequence the rdma_cm order allows: ADDRESS_RESOLVED before ROUTE_RESOLVED before the outcome of an active open, CONNECT_REQUEST then ACCEPT before ESTABLISHED on a passive one, nothing after DEVICE_REMOVAL.',
    runs: 300,
    property: (machine) => {
      const monitor = perRun((first) => ({ at: Array.from({ length: (first.context as { p: { sockets: number } }).p.sockets }, () => 'idle') }));
      return stepsProperty(
        e,
        machine,
        (before, step) => {
          const m = monitor(before, step);
          if (step.event.type === 'guest.reset' && before.value === 'failed') m.at = m.at.map(() => 'idle');
          const at = m.at;
          for (const x of emitted(step)) {
            const input = x.type === 'overlay.command' ? `cmd:${x.cmd}` : x.type === 'guest.event' ? `ev:${x.name}` : undefined;
            if (input === undefined || x.sid === undefined) continue;
            const next = orderStep(at[x.sid], input);
            if (next === undefined) return `socket ${x.sid} in ${at[x.sid]}: ${input} is not allowed by the rdma_cm order`;
            at[x.sid] = next;
          }
          return undefined;
        },
        'vtoe-nic/delivered-events-follow-rdma-cm-order',
      );
    },
  },
  {
    name: 'vtoe-nic/accepted-events-delivered-once-in-order',
    description:
      'Every overlay event the NIC accepted (neither refused nor an overflow) is delivered to the guest exactly once and in acceptance order, unless an overflow discards the EQ; nothing else is delivered.',
    runs: 300,
    property: (machine) => {
      const monitor = perRun(() => ({ queue: [] as string[] }));
      return stepsProperty(
        e,
        machine,
        (before, step) => {
          const m = monitor(before, step);
          const out = emitted(step);
          if (step.event.type === 'overlay.event' && before.value === 'running' && !out.some((x) => x.type === 'eq.refused' || x.type === 'eq.overflow' || x.type === 'eq.dropped')) {
            m.queue.push(`${ev(step).sid}:${ev(step).name}`);
          }
          if (out.some((x) => x.type === 'eq.overflow')) m.queue = [];
          const queue = m.queue;
          for (const x of out.filter((y) => y.type === 'guest.event')) {
            const head = queue.shift();
            if (head !== `${x.sid}:${x.name}`) return `delivered ${x.sid}:${x.name}, but the oldest accepted event is ${head ?? 'none'}`;
          }
          if (step.event.type === 'guest.drain' && queue.length > 0) return `the drain left ${queue.join(', ')} undelivered`;
          return undefined;
        },
        'vtoe-nic/accepted-events-delivered-once-in-order',
      );
    },
  },
  {
    name: 'vtoe-nic/one-interrupt-per-empty-to-non-empty',
    description: 'A virtual interrupt is raised exactly when an accepted event finds no interrupt pending; the drain acknowledges it and an overflow or reset clears it.',
    runs: 300,
    property: (machine) => {
      const monitor = perRun(() => ({ pending: false }));
      return stepsProperty(
        e,
        machine,
        (before, step) => {
          const m = monitor(before, step);
          const pending = m.pending;
          const out = emitted(step);
          const raised = out.filter((x) => x.type === 'irq.raise').length;
          const accepted = step.event.type === 'overlay.event' && before.value === 'running' && !out.some((x) => x.type === 'eq.refused' || x.type === 'eq.overflow');
          const expected = accepted && !pending ? 1 : 0;
          if (raised !== expected) return `${raised} interrupts raised where ${expected} was due (pending = ${pending}, event accepted = ${accepted})`;
          if (accepted) m.pending = true;
          if (step.event.type === 'guest.drain' && out.some((x) => x.type === 'guest.event')) m.pending = false;
          if (out.some((x) => x.type === 'eq.overflow')) m.pending = false;
          return undefined;
        },
        'vtoe-nic/one-interrupt-per-empty-to-non-empty',
      );
    },
  },
  {
    name: 'vtoe-nic/vwqes-reach-overlay-at-doorbell-in-order',
    description: 'VWQEs reach the overlay only at a doorbell, each accepted post exactly once, SENDs and RECVs each in posting order; a refused post never does.',
    runs: 300,
    property: (machine) => {
      const monitor = perRun(() => ({ sends: [] as string[], recvs: [] as string[] }));
      return stepsProperty(
        e,
        machine,
        (before, step) => {
          const m = monitor(before, step);
          const { sends, recvs } = m;
          const out = emitted(step);
          const refused = out.some((x) => x.type === 'guest.error');
          const x = ev(step);
          if (step.event.type === 'guest.post-send' && !refused) sends.push(`${x.sid}:${x.bytes}`);
          if (step.event.type === 'guest.post-recv' && !refused) recvs.push(`${x.sid}:${x.bufferId}`);
          if (out.some((y) => y.type === 'eq.overflow')) (sends.length = 0), (recvs.length = 0);
          const got = out.filter((y) => y.type === 'overlay.vwqe').map((y) => y.vwqe as { kind: string; sid: number; bytes: number; bufferId?: number });
          if (step.event.type !== 'guest.doorbell') return got.length > 0 ? `${got.length} VWQEs reached the overlay on ${step.event.type}` : undefined;
          const want = [...sends.map((s) => `SEND ${s}`), ...recvs.map((r) => `RECV ${r}`)];
          const have = got.map((w) => (w.kind === 'SEND' ? `SEND ${w.sid}:${w.bytes}` : `RECV ${w.sid}:${w.bufferId}`));
          sends.length = 0;
          recvs.length = 0;
          return JSON.stringify(want) === JSON.stringify(have) ? undefined : `the doorbell handed over ${JSON.stringify(have)}, expected ${JSON.stringify(want)}`;
        },
        'vtoe-nic/vwqes-reach-overlay-at-doorbell-in-order',
      );
    },
  },
];
