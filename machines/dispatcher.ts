/**
 * Packet dispatch for the vNICs of a host: who moves the packets a guest queued on its transmit
 * ring into the VNET/P core, in which context, and how the dispatcher threads' poll loops yield.
 *
 * Sources: dissertation §5.1.2 (guest-driven and VMM-driven modes, Figures 5.3 and 5.4: the
 * dispatcher runs in the guest's exit, on unrelated exits, and in dispatcher threads that force
 * an exit by IPI when a vNIC queue is full), §5.1.7 (number of dispatcher threads; immediate,
 * timed and adaptive yield); the original code (palacios-notes.md §2.1: one thread `vnetd-0`
 * polling every NIC with a quota of 64 per device per iteration; §6: the tunables).
 *
 * - A **guest-driven** NIC: the guest queues packets and kicks (an I/O port write, a VM exit); the
 *   dispatcher runs in that exit and takes the NIC's whole transmit backlog.
 * - A **VMM-driven** NIC: the guest queues without kicking; the NIC is polled on exits of its VM
 *   that have nothing to do with it (a timer interrupt, say) and by the n dispatcher threads. Each
 *   poll takes at most `quota` packets from each NIC it serves. The original's threads poll every
 *   NIC, guest-driven ones too (`pollGuestDriven`).
 * - A thread round that finds a polled NIC's receive queue full sends an IPI to force the VM to
 *   exit, so that the exit handler injects the interrupt; any exit of that VM answers it.
 * - After a round without work a thread yields: immediately (it stays runnable), timed (it sleeps
 *   T_sleep), or adaptively (immediately until it has found no work for more than T_nowork, then
 *   timed). A sleeping thread wakes at its wake time: an explicit `thread.wake`, or any event whose
 *   `now` has reached the wake time (the machine applies overdue wake-ups first), so no sleeping
 *   thread ever has a wake time in the past.
 *
 * Each vNIC is taken to belong to its own VM, so "an exit of the NIC's VM" is an event naming the
 * NIC. Per-NIC and per-thread data live in the context; the states say whether any dispatcher
 * thread is awake (`active`) or all of them sleep (`allAsleep`, VMM-driven NICs then progress only
 * on exits). Events whose `now` goes backwards, name a NIC or thread that does not exist, or ask a
 * sleeping thread to run, are refused, counted and reported.
 */
import { and, enqueueActions, not, setup, type SnapshotFrom } from 'xstate';
import { defineEntry, type Invariant, type Witness } from './catalog-entry.js';
import { checkParams, type ParamsOf } from './params.js';

export type Mode = 'guest-driven' | 'vmm-driven';
export type DispatchContext = 'exit' | 'thread' | 'unrelated-exit';

export const params = {
  nics: {
    kind: 'number',
    default: 1,
    min: 1,
    max: 16,
    integer: true,
    unit: 'vNICs',
    description: 'Number of vNICs on the host (each in its own VM).',
    source: '§5.1.2 (Figure 5.4)',
  },
  threads: {
    kind: 'number',
    default: 1,
    min: 1,
    max: 8,
    integer: true,
    unit: 'threads',
    description: 'n_dispatchers: dispatcher threads polling the VMM-driven NICs. The original has one (VNET_NUM_TX_KICK_THREADS).',
    source: '§5.1.7; palacios-notes.md §2.1, §6',
  },
  quota: {
    kind: 'number',
    default: 64,
    min: 1,
    max: 4096,
    integer: true,
    unit: 'packets',
    description: 'Most packets one poll takes from one NIC (per thread round, or per unrelated exit). A kick exit takes the whole backlog.',
    source: 'palacios-notes.md §2.1, §6 (VNET_MAX_QUOTE = 64)',
  },
  initialMode: {
    kind: 'enum',
    default: 'guest-driven',
    values: ['guest-driven', 'vmm-driven'] as const,
    description: 'Transmit mode of every NIC at start; `nic.mode` changes it per NIC (adaptive mode starts guest-driven).',
    source: '§5.1.2; palacios-notes.md §2.2',
  },
  pollGuestDriven: {
    kind: 'boolean',
    default: false,
    description: 'Threads and unrelated exits poll guest-driven NICs too. false = the dissertation (only VMM-driven NICs are polled); true = the original, whose thread polls every NIC in every mode.',
    source: '§5.1.2; palacios-notes.md §2.1, §7 item 3',
  },
  yieldStrategy: {
    kind: 'enum',
    default: 'immediate',
    values: ['immediate', 'timed', 'adaptive'] as const,
    description: 'What a thread does after a round without work: yield and stay runnable, sleep T_sleep, or yield until idle for more than T_nowork and then sleep.',
    source: '§5.1.7 (the evaluation uses immediate yield)',
  },
  tSleep: {
    kind: 'number',
    default: 1_000_000,
    min: 1,
    max: 10_000_000_000,
    integer: true,
    unit: 'ns',
    description: 'T_sleep: how long a timed yield sleeps. The original sleeps VNET_YIELD_USEC = 1000 µs (at least one jiffy).',
    source: '§5.1.7; palacios-notes.md §2.1, §6',
  },
  tNowork: {
    kind: 'number',
    default: 1_000_000,
    min: 0,
    max: 10_000_000_000,
    integer: true,
    unit: 'ns',
    description: 'T_nowork: adaptive yield switches to timed sleeps once a thread has found no work for longer than this. The original counts 1000 idle iterations instead.',
    source: '§5.1.7; palacios-notes.md §6 (VNET_NOPROGRESS_LIMIT)',
  },
} as const;

export type Params = ParamsOf<typeof params>;
export type Input = Partial<Params>;

/** Returns complete parameters or throws an `InputError` naming the field. */
export function checkInput(input: unknown): Params {
  return checkParams('dispatcher', params, input);
}

export interface NicState {
  mode: Mode;
  /** Packets the guest queued on the transmit ring and no dispatcher has taken yet. */
  backlog: number;
  /** The guest's kick (notify exit) is on its way: it queued packets while guest-driven. */
  kickPending: boolean;
  /** The vNIC's receive queue is full: the guest has not taken its frames. */
  rxFull: boolean;
  /** An IPI was sent to the NIC's VM and the VM has not exited since. */
  ipiPending: boolean;
  /** Packets queued since the start (they are numbered 0, 1, ... in queue order). */
  queued: number;
  /** Packets dispatched since the start (always the oldest queued ones). */
  dispatched: number;
}

export interface ThreadState {
  /** Wake time of a sleeping thread (ns), or null while it is awake. */
  asleepUntil: number | null;
  /** Last round that found work (ns); the start counts as work. */
  lastWorkAt: number;
}

export interface Stats {
  rounds: number;
  yields: number;
  sleeps: number;
  /** Wake-ups applied by an event later than the wake time (the environment sent no `thread.wake`). */
  overdueWakeups: number;
  ipis: number;
  rejected: number;
  /** Dispatches (not packets) by context. */
  byContext: Record<DispatchContext, number>;
  /** Thread rounds that left a backlog because of the quota. */
  quotaLimitedRounds: number;
}

export interface Context {
  readonly p: Params;
  /** Time of the latest accepted event (ns). */
  now: number;
  nics: NicState[];
  threads: ThreadState[];
  stats: Stats;
}

export type Event =
  /** The guest queues `packets` on the NIC's transmit ring; guest-driven, its driver will kick. */
  | { type: 'tx.queued'; nic: number; packets: number; now: number }
  /** The guest's kick reaches the VMM: a VM exit on the NIC's notify port. */
  | { type: 'kick'; nic: number; now: number }
  /** An exit of the NIC's VM unrelated to the NIC (timer interrupt, halt, a forced exit). */
  | { type: 'exit'; nic: number; now: number }
  /** The dispatcher thread runs one iteration of its poll loop. */
  | { type: 'thread.round'; thread: number; now: number }
  /** A sleeping thread is woken: its timer fired, or it was signalled. */
  | { type: 'thread.wake'; thread: number; now: number }
  /** The NIC's transmit direction becomes guest-driven or VMM-driven (adaptive mode, or configuration). */
  | { type: 'nic.mode'; nic: number; mode: Mode; now: number }
  /** The NIC's receive queue became full, or the guest drained it. */
  | { type: 'rx.queue'; nic: number; full: boolean; now: number };

export type Emitted =
  /** Packets `first` .. `first + packets - 1` of the NIC go to the VNET/P core. */
  | { type: 'dispatch'; nic: number; packets: number; first: number; context: DispatchContext; thread?: number; now: number }
  /** A cross-core IPI forces the NIC's VM to exit (its receive queue is full). */
  | { type: 'ipi'; nic: number; thread: number; now: number }
  /** The thread found no work and sleeps until `until` (timed yield). */
  | { type: 'thread.sleep'; thread: number; until: number; now: number }
  /** The thread found no work and yields the core, staying runnable (immediate yield). */
  | { type: 'thread.yield'; thread: number; now: number }
  /** A sleeping thread woke; `at` is its wake time, or `now` if it was woken early. */
  | { type: 'thread.woke'; thread: number; at: number; now: number }
  /** An event was refused. */
  | { type: 'event.rejected'; event: Event['type']; now: unknown; reason: 'time-backwards' | 'invalid' | 'thread-asleep' };

/** The initial context for complete parameters. */
export function initialContext(p: Params): Context {
  return {
    p,
    now: 0,
    nics: Array.from({ length: p.nics }, () => ({
      mode: p.initialMode,
      backlog: 0,
      kickPending: false,
      rxFull: false,
      ipiPending: false,
      queued: 0,
      dispatched: 0,
    })),
    threads: Array.from({ length: p.threads }, () => ({ asleepUntil: null, lastWorkAt: 0 })),
    stats: {
      rounds: 0,
      yields: 0,
      sleeps: 0,
      overdueWakeups: 0,
      ipis: 0,
      rejected: 0,
      byContext: { exit: 0, thread: 0, 'unrelated-exit': 0 },
      quotaLimitedRounds: 0,
    },
  };
}

// ---- pure protocol steps -------------------------------------------------------------------------

const isIndex = (v: unknown, n: number) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < n;
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function wellFormed(c: Context, e: Event): boolean {
  if (!isTime(e.now)) return false;
  switch (e.type) {
    case 'tx.queued':
      return isIndex(e.nic, c.p.nics) && Number.isSafeInteger(e.packets) && e.packets > 0;
    case 'nic.mode':
      return isIndex(e.nic, c.p.nics) && (e.mode === 'guest-driven' || e.mode === 'vmm-driven');
    case 'rx.queue':
      return isIndex(e.nic, c.p.nics) && typeof e.full === 'boolean';
    case 'kick':
    case 'exit':
      return isIndex(e.nic, c.p.nics);
    case 'thread.round':
    case 'thread.wake':
      return isIndex(e.thread, c.p.threads);
  }
}

const inOrder = (c: Context, e: Event) => wellFormed(c, e) && e.now >= c.now;

/** Whether threads and unrelated exits poll this NIC. */
export const isPolled = (p: Pick<Params, 'pollGuestDriven'>, nic: Pick<NicState, 'mode'>) =>
  nic.mode === 'vmm-driven' || p.pollGuestDriven;

/** Threads whose wake time has come by `now`. */
function dueThreads(c: Context, now: number): number[] {
  const out: number[] = [];
  c.threads.forEach((t, i) => {
    if (t.asleepUntil !== null && t.asleepUntil <= now) out.push(i);
  });
  return out;
}

/** The context once every thread due by `now` is awake and the clock reads `now`. */
function withDueWoken(c: Context, now: number): Context {
  const due = dueThreads(c, now);
  if (due.length === 0) return { ...c, now };
  return {
    ...c,
    now,
    threads: c.threads.map((t, i) => (due.includes(i) ? { ...t, asleepUntil: null } : t)),
    stats: { ...c.stats, overdueWakeups: c.stats.overdueWakeups + due.filter((i) => c.threads[i].asleepUntil! < now).length },
  };
}

const awake = (c: Context, t: number) => c.threads[t].asleepUntil === null;

interface RoundPlan {
  dispatches: { nic: number; packets: number }[];
  ipis: number[];
}

/** What a round of a thread does: every polled NIC gives up to `quota` packets; full receive queues get an IPI. */
function planRound(c: Context): RoundPlan {
  const dispatches: RoundPlan['dispatches'] = [];
  const ipis: number[] = [];
  c.nics.forEach((n, i) => {
    if (!isPolled(c.p, n)) return;
    if (n.backlog > 0) dispatches.push({ nic: i, packets: Math.min(n.backlog, c.p.quota) });
    if (n.rxFull && !n.ipiPending) ipis.push(i);
  });
  return { dispatches, ipis };
}

/** Does a thread that found no work at `now` sleep (timed yield) rather than yield immediately? */
function sleepsWhenIdle(c: Context, t: number, now: number): boolean {
  switch (c.p.yieldStrategy) {
    case 'immediate':
      return false;
    case 'timed':
      return true;
    case 'adaptive':
      return now - c.threads[t].lastWorkAt > c.p.tNowork;
  }
}

/** Takes `packets` from the NIC's backlog; returns the new NIC state and the first packet number. */
function take(n: NicState, packets: number): { nic: NicState; first: number } {
  return { nic: { ...n, backlog: n.backlog - packets, dispatched: n.dispatched + packets }, first: n.dispatched };
}

const eventNic = (e: Event) => ('nic' in e ? e.nic : -1);
const eventThread = (e: Event) => ('thread' in e ? e.thread : -1);

const src = (source: string) => ({ source });

export const dispatcherMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as Input | undefined,
    emitted: {} as Emitted,
    meta: {} as { source: string },
  },
  guards: {
    /** `now` does not go backwards and the event names an existing NIC or thread, with well-formed fields. */
    inOrder: ({ context, event }) => inOrder(context, event),
    /** The event's time has reached the wake time of some sleeping thread. */
    wakesAThread: ({ context, event }) => dueThreads(context, event.now).length > 0,
    /** The named thread sleeps (an explicit wake applies to it). */
    threadAsleep: ({ context, event }) => !awake(context, eventThread(event)),
    /** The named thread is awake once overdue wake-ups are applied, so it can run a round. */
    threadAwake: ({ context, event }) => awake(withDueWoken(context, event.now), eventThread(event)),
    /** The round finds a polled NIC with a backlog, or one with a full receive queue to signal. */
    roundFindsWork: ({ context, event }) => {
      const plan = planRound(withDueWoken(context, event.now));
      return plan.dispatches.length > 0 || plan.ipis.length > 0;
    },
    /** The yield strategy puts an idle thread to sleep now. */
    idleThreadSleeps: ({ context, event }) => sleepsWhenIdle(context, eventThread(event), event.now),
    /** Some thread other than the named one is awake (after overdue wake-ups). */
    anotherThreadAwake: ({ context, event }) => {
      const c = withDueWoken(context, event.now);
      return c.threads.some((_, i) => i !== eventThread(event) && awake(c, i));
    },
  },
  actions: {
    /** Apply overdue wake-ups and move the clock: every event does this first. */
    wakeDueThreads: enqueueActions(({ context, event, enqueue }) => {
      for (const t of dueThreads(context, event.now)) {
        enqueue.emit({ type: 'thread.woke', thread: t, at: context.threads[t].asleepUntil!, now: event.now });
      }
      enqueue.assign(withDueWoken(context, event.now));
    }),
    wakeThread: enqueueActions(({ context, event, enqueue }) => {
      const t = eventThread(event);
      if (awake(context, t)) return;
      enqueue.assign({ threads: context.threads.map((x, i) => (i === t ? { ...x, asleepUntil: null } : x)) });
      enqueue.emit({ type: 'thread.woke', thread: t, at: event.now, now: event.now });
    }),
    queuePackets: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'tx.queued') return;
      enqueue.assign({
        nics: context.nics.map((n, i) =>
          i === event.nic
            ? { ...n, backlog: n.backlog + event.packets, queued: n.queued + event.packets, kickPending: n.kickPending || n.mode === 'guest-driven' }
            : n,
        ),
      });
    }),
    /** The kick's exit handler drains the NIC's whole transmit backlog. */
    dispatchOnKick: enqueueActions(({ context, event, enqueue }) => {
      const i = eventNic(event);
      const n = context.nics[i];
      const { nic, first } = take({ ...n, kickPending: false }, n.backlog);
      enqueue.assign({
        nics: context.nics.map((x, k) => (k === i ? nic : x)),
        stats: n.backlog > 0 ? { ...context.stats, byContext: { ...context.stats.byContext, exit: context.stats.byContext.exit + 1 } } : context.stats,
      });
      if (n.backlog > 0) enqueue.emit({ type: 'dispatch', nic: i, packets: n.backlog, first, context: 'exit', now: event.now });
    }),
    /** An unrelated exit polls the NIC, if it is polled, for up to `quota` packets. */
    pollOnExit: enqueueActions(({ context, event, enqueue }) => {
      const i = eventNic(event);
      const n = context.nics[i];
      if (!isPolled(context.p, n) || n.backlog === 0) return;
      const k = Math.min(n.backlog, context.p.quota);
      const { nic, first } = take(n, k);
      enqueue.assign({
        nics: context.nics.map((x, j) => (j === i ? nic : x)),
        stats: { ...context.stats, byContext: { ...context.stats.byContext, 'unrelated-exit': context.stats.byContext['unrelated-exit'] + 1 } },
      });
      enqueue.emit({ type: 'dispatch', nic: i, packets: k, first, context: 'unrelated-exit', now: event.now });
    }),
    /** Any exit of the NIC's VM answers an outstanding IPI: the exit handler injects the interrupt. */
    noteVmExited: enqueueActions(({ context, event, enqueue }) => {
      const i = eventNic(event);
      if (context.nics[i].ipiPending) enqueue.assign({ nics: context.nics.map((x, k) => (k === i ? { ...x, ipiPending: false } : x)) });
    }),
    /** Set the NIC's mode; becoming guest-driven re-checks the ring and dispatches what waits (no kick will come for it). */
    setMode: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'nic.mode') return;
      const n = context.nics[event.nic];
      const recheck = event.mode === 'guest-driven' && n.mode === 'vmm-driven' && n.backlog > 0;
      const { nic, first } = recheck ? take({ ...n, mode: event.mode }, n.backlog) : { nic: { ...n, mode: event.mode }, first: 0 };
      enqueue.assign({
        nics: context.nics.map((x, k) => (k === event.nic ? nic : x)),
        stats: recheck ? { ...context.stats, byContext: { ...context.stats.byContext, exit: context.stats.byContext.exit + 1 } } : context.stats,
      });
      if (recheck) enqueue.emit({ type: 'dispatch', nic: event.nic, packets: n.backlog, first, context: 'exit', now: event.now });
    }),
    setRxQueue: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'rx.queue') return;
      enqueue.assign({ nics: context.nics.map((x, k) => (k === event.nic ? { ...x, rxFull: event.full } : x)) });
    }),
    /** One round: up to `quota` packets from every polled NIC, an IPI for every full receive queue not yet signalled. */
    runRound: enqueueActions(({ context, event, enqueue }) => {
      const t = eventThread(event);
      const plan = planRound(context);
      const nics = context.nics.slice();
      const stats = { ...context.stats, rounds: context.stats.rounds + 1, byContext: { ...context.stats.byContext } };
      for (const d of plan.dispatches) {
        const { nic, first } = take(nics[d.nic], d.packets);
        nics[d.nic] = nic;
        stats.byContext.thread++;
        if (nic.backlog > 0) stats.quotaLimitedRounds++;
        enqueue.emit({ type: 'dispatch', nic: d.nic, packets: d.packets, first, context: 'thread', thread: t, now: event.now });
      }
      for (const i of plan.ipis) {
        nics[i] = { ...nics[i], ipiPending: true };
        stats.ipis++;
        enqueue.emit({ type: 'ipi', nic: i, thread: t, now: event.now });
      }
      enqueue.assign({ nics, stats, threads: context.threads.map((x, i) => (i === t ? { ...x, lastWorkAt: event.now } : x)) });
    }),
    yieldThread: enqueueActions(({ context, event, enqueue }) => {
      enqueue.assign({ stats: { ...context.stats, rounds: context.stats.rounds + 1, yields: context.stats.yields + 1 } });
      enqueue.emit({ type: 'thread.yield', thread: eventThread(event), now: event.now });
    }),
    sleepThread: enqueueActions(({ context, event, enqueue }) => {
      const t = eventThread(event);
      const until = event.now + context.p.tSleep;
      enqueue.assign({
        threads: context.threads.map((x, i) => (i === t ? { ...x, asleepUntil: until } : x)),
        stats: { ...context.stats, rounds: context.stats.rounds + 1, sleeps: context.stats.sleeps + 1 },
      });
      enqueue.emit({ type: 'thread.sleep', thread: t, until, now: event.now });
    }),
    rejectEvent: enqueueActions(({ context, event, enqueue }) => {
      const reason = !wellFormed(context, event) ? 'invalid' : event.now < context.now ? 'time-backwards' : 'thread-asleep';
      enqueue.assign({ stats: { ...context.stats, rejected: context.stats.rejected + 1 } });
      enqueue.emit({ type: 'event.rejected', event: event.type, now: event.now, reason });
    }),
  },
}).createMachine({
  id: 'dispatcher',
  description: 'Packet dispatch for the vNICs of a host: in the guest exit, on unrelated exits, and by n dispatcher threads with a yield strategy.',
  meta: src('§5.1.2 (Figures 5.3, 5.4); §5.1.7; palacios-notes.md §2.1'),
  context: ({ input }) => initialContext(checkInput(input)),
  initial: 'active',
  on: {
    'tx.queued': [
      {
        guard: 'inOrder',
        actions: ['wakeDueThreads', 'queuePackets'],
        description: 'The guest queues packets on the transmit ring; a guest-driven NIC\'s driver will kick, a VMM-driven one waits to be polled.',
        meta: src('§5.1.2; §5.1.6 Transmission'),
      },
    ],
    kick: [
      {
        guard: 'inOrder',
        actions: ['wakeDueThreads', 'noteVmExited', 'dispatchOnKick'],
        description: 'Guest-driven dispatch: the kick exit runs the dispatcher, which takes the NIC\'s whole transmit backlog.',
        meta: src('§5.1.2 guest-driven mode; palacios-notes.md §2.2 (quote 0 = unlimited)'),
      },
    ],
    exit: [
      {
        guard: 'inOrder',
        actions: ['wakeDueThreads', 'noteVmExited', 'pollOnExit'],
        description: 'An exit unrelated to the NIC polls it if it is polled and dispatches up to quota packets; it also answers an outstanding IPI.',
        meta: src('§5.1.2 VMM-driven mode ("polled ... in the context of the current VM exit")'),
      },
    ],
    'nic.mode': [
      {
        guard: 'inOrder',
        actions: ['wakeDueThreads', 'setMode'],
        description: 'The NIC changes mode; on becoming guest-driven the ring is re-checked and what waits is dispatched in that exit.',
        meta: src('§5.1.2 (adaptive operation); virtio split-ring.tex (re-check after re-enabling notifications)'),
      },
    ],
    'rx.queue': [
      {
        guard: 'inOrder',
        actions: ['wakeDueThreads', 'setRxQueue'],
        description: 'The NIC\'s receive queue fills up, or the guest drains it.',
        meta: src('§5.1.2 ("a virtual NIC queue is full")'),
      },
    ],
    'thread.wake': [
      {
        guard: 'inOrder',
        actions: 'wakeDueThreads',
        description: 'A wake-up for a thread that is already awake (it was woken when its time came): nothing to do.',
        meta: src('§5.1.7 timed yield'),
      },
    ],
    // Whatever no transition above takes: a malformed or out-of-order event, or a round of a sleeping thread.
    '*': {
      actions: 'rejectEvent',
      description: 'Refuse an event the dispatcher cannot take (malformed, time going backwards, a round of a sleeping thread): count and report it.',
      meta: src('§5.1.7 (a sleeping thread does not run); ARCHITECTURE.md (time enters as event fields)'),
    },
  },
  states: {
    active: {
      description: 'At least one dispatcher thread is awake and polling.',
      meta: src('§5.1.2 (Figure 5.4); §5.1.7'),
      on: {
        'thread.round': [
          {
            guard: and(['inOrder', 'threadAwake', 'roundFindsWork']),
            actions: ['wakeDueThreads', 'runRound'],
            description: 'A round finds work: up to quota packets from every polled NIC, and an IPI to every VM whose full receive queue is not yet signalled.',
            meta: src('§5.1.2 VMM-driven mode; palacios-notes.md §2.1 (quote 64 per device per iteration)'),
          },
          {
            guard: and(['inOrder', 'threadAwake', not('idleThreadSleeps')]),
            actions: ['wakeDueThreads', 'yieldThread'],
            description: 'No work: yield the core and stay runnable (immediate yield, or adaptive yield within T_nowork of the last work).',
            meta: src('§5.1.7 immediate yield; adaptive yield'),
          },
          {
            guard: and(['inOrder', 'threadAwake', 'anotherThreadAwake']),
            actions: ['wakeDueThreads', 'sleepThread'],
            description: 'No work: sleep T_sleep (timed yield, or adaptive yield past T_nowork); another thread stays awake.',
            meta: src('§5.1.7 timed yield; adaptive yield'),
          },
          {
            guard: and(['inOrder', 'threadAwake']),
            target: 'allAsleep',
            actions: ['wakeDueThreads', 'sleepThread'],
            description: 'No work: the last awake thread sleeps T_sleep; from now on only exits serve the VMM-driven NICs until a wake time.',
            meta: src('§5.1.7 timed yield'),
          },
        ],
        'thread.wake': {
          guard: and(['inOrder', 'threadAsleep']),
          actions: ['wakeDueThreads', 'wakeThread'],
          description: 'A sleeping thread is woken (its timer fired, or a signal); it polls again.',
          meta: src('§5.1.7 ("awakened by ... a signaled event or the passage of time")'),
        },
      },
    },
    allAsleep: {
      description: 'Every dispatcher thread sleeps in a timed yield: VMM-driven NICs progress only on exits until the first wake time.',
      meta: src('§5.1.7 timed yield; §5.1.2 ("even if exits are infrequent ... timer interrupt exits")'),
      on: {
        'thread.round': [
          {
            guard: and(['inOrder', 'threadAwake', 'roundFindsWork']),
            target: 'active',
            actions: ['wakeDueThreads', 'runRound'],
            description: 'A thread whose wake time has come runs a round and finds work.',
            meta: src('§5.1.7 timed yield; §5.1.2'),
          },
          // No immediate-yield case here: a thread slept because its strategy said so, and idle time only grows.
          {
            guard: and(['inOrder', 'threadAwake', 'anotherThreadAwake']),
            target: 'active',
            actions: ['wakeDueThreads', 'sleepThread'],
            description: 'A woken thread finds no work and sleeps again, but another thread woke at the same time and stays awake.',
            meta: src('§5.1.7 timed yield'),
          },
          {
            guard: and(['inOrder', 'threadAwake']),
            actions: ['wakeDueThreads', 'sleepThread'],
            description: 'The thread whose wake time came finds no work and sleeps T_sleep again.',
            meta: src('§5.1.7 timed yield; palacios-notes.md §2.1 (about one poll per jiffy when idle)'),
          },
        ],
        'thread.wake': {
          guard: and(['inOrder', 'threadAsleep']),
          target: 'active',
          actions: ['wakeDueThreads', 'wakeThread'],
          description: 'A sleeping thread is woken: its timer fired, or it was signalled.',
          meta: src('§5.1.7 timed yield'),
        },
        'tx.queued': {
          guard: and(['inOrder', 'wakesAThread']),
          target: 'active',
          actions: ['wakeDueThreads', 'queuePackets'],
          description: 'The guest queues packets at or after a thread\'s wake time: that thread is awake again.',
          meta: src('§5.1.7 timed yield'),
        },
        kick: {
          guard: and(['inOrder', 'wakesAThread']),
          target: 'active',
          actions: ['wakeDueThreads', 'noteVmExited', 'dispatchOnKick'],
          description: 'A kick at or after a thread\'s wake time: the thread is awake again; the exit dispatches the backlog.',
          meta: src('§5.1.7 timed yield; §5.1.2 guest-driven mode'),
        },
        exit: {
          guard: and(['inOrder', 'wakesAThread']),
          target: 'active',
          actions: ['wakeDueThreads', 'noteVmExited', 'pollOnExit'],
          description: 'An unrelated exit at or after a thread\'s wake time: the thread is awake again; the exit polls the NIC.',
          meta: src('§5.1.7 timed yield; §5.1.2 VMM-driven mode'),
        },
        'nic.mode': {
          guard: and(['inOrder', 'wakesAThread']),
          target: 'active',
          actions: ['wakeDueThreads', 'setMode'],
          description: 'A mode change at or after a thread\'s wake time: the thread is awake again.',
          meta: src('§5.1.7 timed yield; §5.1.2'),
        },
        'rx.queue': {
          guard: and(['inOrder', 'wakesAThread']),
          target: 'active',
          actions: ['wakeDueThreads', 'setRxQueue'],
          description: 'A receive-queue report at or after a thread\'s wake time: the thread is awake again.',
          meta: src('§5.1.7 timed yield'),
        },
      },
    },
  },
});

export type DispatcherMachine = typeof dispatcherMachine;

// ---- catalog entry -----------------------------------------------------------------------------

type Snap = SnapshotFrom<DispatcherMachine>;

/** Safety properties of packet dispatch alone. */
export const invariants: readonly Invariant<Snap>[] = [
  {
    name: 'packets-conserved',
    description:
      'No packet is dispatched twice and none disappears: for every NIC the packets queued equal those dispatched plus those still in the backlog.',
    source: '§5.1.2; §5.1.6 (each packet is copied once from TXQ)',
    check: (s) => {
      for (const [i, n] of s.context.nics.entries()) {
        if (n.backlog < 0) return `NIC ${i} has a negative backlog ${n.backlog}`;
        if (n.queued !== n.dispatched + n.backlog)
          return `NIC ${i}: ${n.queued} packets queued but ${n.dispatched} dispatched and ${n.backlog} waiting`;
      }
      return undefined;
    },
    witness: {
      name: 'backlog-exceeds-quota',
      description: 'A NIC sometimes has more packets waiting than one poll may take.',
      reached: (s) => s.context.nics.some((n) => n.backlog > s.context.p.quota),
    },
  },
  {
    name: 'sleeping-thread-wakes-by-t-sleep',
    description:
      'A sleeping thread wakes by T_sleep: its wake time is never in the past (an event at or after it wakes the thread first) and never more than T_sleep ahead.',
    source: '§5.1.7 timed yield',
    check: (s) => {
      const c = s.context;
      for (const [i, t] of c.threads.entries()) {
        if (t.asleepUntil === null) continue;
        if (t.asleepUntil <= c.now) return `thread ${i} still sleeps at ${c.now} ns although its wake time was ${t.asleepUntil} ns`;
        if (t.asleepUntil > c.now + c.p.tSleep) return `thread ${i} sleeps until ${t.asleepUntil} ns, more than T_sleep after ${c.now} ns`;
      }
      return undefined;
    },
    witness: {
      name: 'overdue-wake-applied',
      description: 'A thread is sometimes woken by an event later than its wake time (no explicit wake-up came).',
      reached: (s) => s.context.stats.overdueWakeups > 0,
    },
  },
  {
    name: 'all-asleep-iff-no-thread-awake',
    description: 'The dispatcher is `allAsleep` exactly when every thread sleeps, and `active` exactly when some thread polls.',
    source: '§5.1.7',
    check: (s) => {
      const anyAwake = s.context.threads.some((t) => t.asleepUntil === null);
      if (s.matches('allAsleep') && anyAwake) return 'allAsleep while a thread is awake';
      if (s.matches('active') && !anyAwake) return 'active while every thread sleeps';
      return undefined;
    },
    witness: {
      name: 'all-threads-asleep',
      description: 'Every dispatcher thread sometimes sleeps at once.',
      reached: (s) => s.matches('allAsleep'),
    },
  },
  {
    name: 'guest-driven-backlog-has-kick',
    description:
      'A guest-driven NIC never holds packets without a kick on its way: packets it queues are followed by a kick whose exit takes them all, and a NIC that becomes guest-driven has its ring re-checked.',
    source: '§5.1.2 guest-driven mode; virtio split-ring.tex "Available Buffer Notification Suppression"',
    check: (s) => {
      for (const [i, n] of s.context.nics.entries()) {
        if (n.mode === 'guest-driven' && n.backlog > 0 && !n.kickPending)
          return `guest-driven NIC ${i} holds ${n.backlog} packets and no kick is on its way`;
      }
      return undefined;
    },
    witness: {
      name: 'guest-driven-packets-await-kick',
      description: 'A guest-driven NIC sometimes holds packets while its kick is on its way.',
      reached: (s) => s.context.nics.some((n) => n.mode === 'guest-driven' && n.backlog > 0),
    },
  },
];

/** "Sometimes" conditions beyond the invariants' own. */
export const witnesses: readonly Witness<Snap>[] = [
  {
    name: 'dispatched-in-kick-exit',
    description: 'Packets are sometimes dispatched in the guest\'s kick exit.',
    reached: (s) => s.context.stats.byContext.exit > 0,
  },
  {
    name: 'dispatched-on-unrelated-exit',
    description: 'Packets are sometimes dispatched on an exit unrelated to the NIC.',
    reached: (s) => s.context.stats.byContext['unrelated-exit'] > 0,
  },
  {
    name: 'dispatched-by-thread',
    description: 'Packets are sometimes dispatched by a dispatcher thread.',
    reached: (s) => s.context.stats.byContext.thread > 0,
  },
  {
    name: 'round-limited-by-quota',
    description: 'A thread round sometimes leaves packets behind because of the quota.',
    reached: (s) => s.context.stats.quotaLimitedRounds > 0,
  },
  {
    name: 'ipi-forces-exit',
    description: 'A thread sometimes finds a full receive queue and sends an IPI.',
    reached: (s) => s.context.stats.ipis > 0,
  },
  {
    name: 'immediate-yield',
    description: 'A thread sometimes finds no work and yields without sleeping.',
    reached: (s) => s.context.stats.yields > 0,
  },
];

/**
 * The exploration alphabet. Packets come one at a time, up to one more than the quota per NIC;
 * time advances only by unrelated exits (T_sleep/2 later) and at the sleeping threads' wake times,
 * so every relative time stays a multiple of T_sleep/2.
 */
export function explorationEvents(s: Snap): Event[] {
  const c = s.context;
  const step = Math.max(1, Math.floor(c.p.tSleep / 2));
  const now = c.now;
  const ev: Event[] = [];
  // While every thread sleeps, the guest may also act at the first wake time.
  const wake = c.threads.reduce((m, t) => (t.asleepUntil !== null && t.asleepUntil < m ? t.asleepUntil : m), Number.POSITIVE_INFINITY);
  const times = s.matches('allAsleep') && Number.isFinite(wake) ? [now, wake] : [now];
  c.nics.forEach((n, nic) => {
    for (const at of times) {
      if (n.backlog <= c.p.quota) ev.push({ type: 'tx.queued', nic, packets: 1, now: at });
      if (n.kickPending) ev.push({ type: 'kick', nic, now: at });
      ev.push({ type: 'nic.mode', nic, mode: n.mode === 'guest-driven' ? 'vmm-driven' : 'guest-driven', now: at });
      ev.push({ type: 'rx.queue', nic, full: !n.rxFull, now: at });
    }
    ev.push({ type: 'exit', nic, now: now + step });
  });
  c.threads.forEach((t, thread) => {
    // A wake-up for an awake thread is a no-op; a round of a thread still asleep is refused.
    ev.push({ type: 'thread.round', thread, now }, { type: 'thread.wake', thread, now });
    if (t.asleepUntil !== null) ev.push({ type: 'thread.wake', thread, now: t.asleepUntil }, { type: 'thread.round', thread, now: t.asleepUntil });
  });
  if (now > 0) ev.push({ type: 'exit', nic: 0, now: now - 1 });
  return ev;
}

/**
 * A finite key: counters and absolute times dropped. Per NIC what decides behaviour; per thread
 * its wake time relative to now, and (adaptive yield only) how long it has been idle, capped just
 * past T_nowork.
 */
export function serializeState(s: Snap): string {
  const c = s.context;
  return JSON.stringify([
    s.value,
    c.nics.map((n) => [n.mode === 'vmm-driven' ? 1 : 0, n.backlog, n.kickPending ? 1 : 0, n.rxFull ? 1 : 0, n.ipiPending ? 1 : 0]),
    c.threads.map((t) =>
      t.asleepUntil !== null
        ? ['z', t.asleepUntil - c.now]
        : c.p.yieldStrategy === 'adaptive'
          ? ['a', Math.min(c.now - t.lastWorkAt, c.p.tNowork + 1)]
          : ['a'],
    ),
  ]);
}

export const entry = defineEntry({
  id: 'dispatcher',
  title: 'Packet dispatcher (guest-driven exits, unrelated exits, dispatcher threads and their yield strategy)',
  summary:
    'The VNET/P core moves the packets each guest queued on its vNIC transmit ring. A guest-driven NIC kicks, ' +
    'and the dispatcher runs in that VM exit and takes the whole backlog. A VMM-driven NIC does not kick: it is ' +
    'polled on exits of its VM that are unrelated to it and by n dispatcher threads, each poll taking at most ' +
    '`quota` packets (64 in the original) from every NIC it serves; the original polls guest-driven NICs too. ' +
    'A thread that finds a polled NIC\'s receive queue full sends an IPI so that the VM exits and the interrupt ' +
    'is injected. After a round without work a thread yields immediately, sleeps T_sleep (timed yield), or ' +
    'yields immediately until it has been idle for T_nowork and then sleeps (adaptive yield). Sleeping threads ' +
    'wake at their wake time, applied as soon as an event reaches it; when all threads sleep, VMM-driven NICs ' +
    'progress only on exits. The samples have 1 or 2 NICs and 1 or 2 threads with a quota of 1 or 2.',
  source: ['§5.1.2', '§5.1.7', 'palacios-notes.md §2.1, §6'],
  machine: dispatcherMachine,
  params,
  checkInput,
  samples: [
    { name: 'adaptive-yield-1-nic-vmm-driven', input: { nics: 1, threads: 1, quota: 1, initialMode: 'vmm-driven', yieldStrategy: 'adaptive' } },
    { name: 'timed-yield-2-threads-poll-all', input: { nics: 1, threads: 2, quota: 1, yieldStrategy: 'timed', pollGuestDriven: true } },
    { name: 'immediate-yield-2-nics', input: { nics: 2, threads: 1, quota: 1, yieldStrategy: 'immediate' } },
  ],
  invariants,
  witnesses,
  events: explorationEvents,
  serializeState,
  accepts: [
    { type: 'tx.queued', description: 'The guest queues packets on a NIC\'s transmit ring (a guest-driven driver will kick).' },
    { type: 'kick', description: 'The guest\'s kick exit: the dispatcher takes the NIC\'s whole backlog.' },
    { type: 'exit', description: 'An exit of the NIC\'s VM unrelated to it: polls the NIC (up to quota) if polled; answers an IPI.' },
    { type: 'thread.round', description: 'A dispatcher thread runs one iteration of its poll loop.' },
    { type: 'thread.wake', description: 'A sleeping thread\'s timer fires, or it is signalled.' },
    { type: 'nic.mode', description: 'A NIC\'s transmit direction becomes guest-driven or VMM-driven.' },
    { type: 'rx.queue', description: 'A NIC\'s receive queue becomes full, or the guest drains it.' },
  ],
  emits: [
    { type: 'dispatch', description: 'Packets `first`.. of a NIC go to the VNET/P core, in a kick exit, an unrelated exit or a thread.' },
    { type: 'ipi', description: 'A cross-core IPI forces the NIC\'s VM to exit (its receive queue is full).' },
    { type: 'thread.sleep', description: 'A thread found no work and sleeps until `until` (timed yield).' },
    { type: 'thread.yield', description: 'A thread found no work and yields the core, staying runnable.' },
    { type: 'thread.woke', description: 'A sleeping thread woke (at its wake time, or early by an explicit wake-up).' },
    { type: 'event.rejected', description: 'An event was refused: malformed, out of order, or a round of a sleeping thread.' },
  ],
});
