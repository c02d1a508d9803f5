/**
 * Dispatcher properties checked by an outside monitor: it keeps its own account of each NIC
 * (mode, packets queued and dispatched, receive queue, IPI outstanding) and of each thread
 * (sleeping until when, last work) from the events sent and the effects emitted, never from the
 * machine's context, and judges every step of random runs against the dissertation's rules.
 */
import fc from 'fast-check';
import type { AnyStateMachine, EventObject } from 'xstate';
import type { AnyCatalogEntry } from '../machines/catalog-entry.js';
import { checkInput, entry, type Emitted, type Event, type Mode, type Params } from '../machines/dispatcher.js';
import { randomRun } from '../model/explore.js';
import { withMachine, type MachineProperty } from './harness.js';

const e = entry as unknown as AnyCatalogEntry;

interface NicView {
  mode: Mode;
  queued: number;
  dispatched: number;
  rxFull: boolean;
  ipiOutstanding: boolean;
}
interface ThreadView {
  sleepingUntil: number | null;
  lastWork: number;
}

/** The monitor's own account of the world, updated from each accepted event and its effects. */
export class World {
  now = 0;
  readonly nics: NicView[];
  readonly threads: ThreadView[];
  constructor(readonly p: Params) {
    this.nics = Array.from({ length: p.nics }, () => ({ mode: p.initialMode, queued: 0, dispatched: 0, rxFull: false, ipiOutstanding: false }));
    this.threads = Array.from({ length: p.threads }, () => ({ sleepingUntil: null, lastWork: 0 }));
  }
  backlog(nic: number): number {
    return this.nics[nic].queued - this.nics[nic].dispatched;
  }
  polled(nic: number): boolean {
    return this.nics[nic].mode === 'vmm-driven' || this.p.pollGuestDriven;
  }
  /** A thread is awake at `now` if it does not sleep or its wake time has come. */
  awakeAt(thread: number, now: number): boolean {
    const u = this.threads[thread].sleepingUntil;
    return u === null || u <= now;
  }
  apply(event: Event, out: readonly Emitted[]): void {
    if (out.some((x) => x.type === 'event.rejected')) return;
    this.now = event.now;
    for (const t of this.threads) if (t.sleepingUntil !== null && t.sleepingUntil <= event.now) t.sleepingUntil = null;
    switch (event.type) {
      case 'tx.queued':
        this.nics[event.nic].queued += event.packets;
        break;
      case 'kick':
      case 'exit':
        this.nics[event.nic].ipiOutstanding = false;
        break;
      case 'nic.mode':
        this.nics[event.nic].mode = event.mode;
        break;
      case 'rx.queue':
        this.nics[event.nic].rxFull = event.full;
        break;
      case 'thread.wake':
        this.threads[event.thread].sleepingUntil = null;
        break;
      case 'thread.round':
        break;
    }
    for (const x of out) {
      if (x.type === 'dispatch') {
        this.nics[x.nic].dispatched += x.packets;
        if (x.thread !== undefined) this.threads[x.thread].lastWork = x.now;
      } else if (x.type === 'ipi') {
        this.nics[x.nic].ipiOutstanding = true;
        this.threads[x.thread].lastWork = x.now;
      } else if (x.type === 'thread.sleep') {
        this.threads[x.thread].sleepingUntil = x.until;
      }
    }
  }
}

/** Judges one step: the world as it was before, the event, what the machine emitted. */
type Judge = (w: World, event: Event, out: readonly Emitted[]) => string | undefined;

/** Random runs from the entry's samples; `judge` sees every step with the monitor's world before it. */
function monitored(machine: AnyStateMachine, judge: Judge) {
  const m = withMachine(e, machine);
  return fc.property(
    fc.integer({ min: 0, max: e.samples.length - 1 }),
    fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 80 }),
    (sample, choices) => {
      const input = e.samples[sample].input;
      const world = new World(checkInput(input));
      const run = randomRun(m, input, choices, { checkInvariants: false });
      const path: EventObject[] = [];
      for (const step of run.steps) {
        const event = step.event as Event;
        const out = step.emitted as readonly Emitted[];
        path.push(event);
        const problem = judge(world, event, out);
        if (problem) {
          throw new Error(`dispatcher [sample ${e.samples[sample].name}]: ${problem}\n  after events: ${path.map((x) => JSON.stringify(x)).join(' ; ')}`);
        }
        world.apply(event, out);
      }
    },
  );
}

const accepted = (out: readonly Emitted[]) => !out.some((x) => x.type === 'event.rejected');
const dispatchesOf = (out: readonly Emitted[]) => out.filter((x): x is Extract<Emitted, { type: 'dispatch' }> => x.type === 'dispatch');

export const properties: readonly MachineProperty[] = [
  {
    name: 'dispatcher/thread-round-serves-every-polled-nic-within-quota',
    description:
      'A round of a running thread takes min(backlog, quota) packets from every polled NIC with a backlog (VMM-driven ones; all with pollGuestDriven) and nothing from the others: a queued packet waits at most ceil(backlog/quota) rounds.',
    runs: 300,
    property: (machine) =>
      monitored(machine, (w, ev, out) => {
        if (ev.type !== 'thread.round' || !accepted(out)) return undefined;
        const ds = dispatchesOf(out);
        for (const [i] of w.nics.entries()) {
          const mine = ds.filter((d) => d.nic === i);
          const want = w.polled(i) ? Math.min(w.backlog(i), w.p.quota) : 0;
          const got = mine.reduce((n, d) => n + d.packets, 0);
          if (got !== want)
            return `thread ${ev.thread}'s round took ${got} packets from ${w.nics[i].mode} NIC ${i} (backlog ${w.backlog(i)}, quota ${w.p.quota}, ${w.polled(i) ? 'polled' : 'not polled'}); expected ${want}`;
          if (mine.some((d) => d.context !== 'thread' || d.thread !== ev.thread)) return `a round's dispatch is not attributed to thread ${ev.thread}`;
        }
        return undefined;
      }),
  },
  {
    name: 'dispatcher/each-packet-dispatched-once-in-queue-order',
    description: 'Every dispatch takes the oldest packets not yet dispatched and only packets that were queued: no packet is dispatched twice, skipped or invented.',
    runs: 300,
    property: (machine) =>
      monitored(machine, (w, _ev, out) => {
        const next = w.nics.map((n) => n.dispatched);
        for (const d of dispatchesOf(out)) {
          if (d.packets <= 0) return `an empty dispatch from NIC ${d.nic}`;
          if (d.first !== next[d.nic]) return `NIC ${d.nic}: dispatch starts at packet ${d.first}, but packet ${next[d.nic]} is the oldest not yet dispatched`;
          next[d.nic] += d.packets;
          if (next[d.nic] > w.nics[d.nic].queued) return `NIC ${d.nic}: dispatched up to packet ${next[d.nic] - 1} but only ${w.nics[d.nic].queued} were queued`;
        }
        return undefined;
      }),
  },
  {
    name: 'dispatcher/kick-takes-whole-backlog',
    description: "Guest-driven dispatch: the dispatcher runs in the kick's exit and takes the NIC's whole transmit backlog, whatever the quota.",
    runs: 300,
    property: (machine) =>
      monitored(machine, (w, ev, out) => {
        if (ev.type !== 'kick' || !accepted(out)) return undefined;
        const got = dispatchesOf(out).filter((d) => d.nic === ev.nic && d.context === 'exit').reduce((n, d) => n + d.packets, 0);
        return got === w.backlog(ev.nic) ? undefined : `the kick exit of NIC ${ev.nic} took ${got} of ${w.backlog(ev.nic)} waiting packets`;
      }),
  },
  {
    name: 'dispatcher/full-receive-queue-forces-exit',
    description:
      'A round that finds a polled NIC with a full receive queue sends one IPI to its VM, unless one is outstanding (no exit of that VM since); no IPI goes to a NIC whose queue is not full.',
    runs: 300,
    property: (machine) =>
      monitored(machine, (w, ev, out) => {
        const ipis = out.filter((x) => x.type === 'ipi').map((x) => (x as { nic: number }).nic);
        if (ev.type !== 'thread.round' || !accepted(out)) return ipis.length ? `an IPI outside a thread round (${ev.type})` : undefined;
        for (const [i, n] of w.nics.entries()) {
          const want = w.polled(i) && n.rxFull && !n.ipiOutstanding ? 1 : 0;
          const got = ipis.filter((x) => x === i).length;
          if (got !== want)
            return `round sent ${got} IPIs to NIC ${i} (receive queue ${n.rxFull ? 'full' : 'not full'}, IPI ${n.ipiOutstanding ? 'outstanding' : 'none outstanding'}, ${w.polled(i) ? 'polled' : 'not polled'})`;
        }
        return undefined;
      }),
  },
  {
    name: 'dispatcher/idle-round-follows-yield-strategy',
    description:
      'A round without work yields and stays runnable (immediate), sleeps exactly T_sleep (timed), or yields until the thread has been idle for more than T_nowork and then sleeps T_sleep (adaptive).',
    runs: 300,
    property: (machine) =>
      monitored(machine, (w, ev, out) => {
        if (ev.type !== 'thread.round' || !accepted(out)) return undefined;
        if (out.some((x) => x.type === 'dispatch' || x.type === 'ipi')) return undefined;
        const sleeps = out.filter((x) => x.type === 'thread.sleep') as Extract<Emitted, { type: 'thread.sleep' }>[];
        const yields = out.filter((x) => x.type === 'thread.yield');
        const idle = ev.now - w.threads[ev.thread].lastWork;
        const shouldSleep = w.p.yieldStrategy === 'timed' || (w.p.yieldStrategy === 'adaptive' && idle > w.p.tNowork);
        if (shouldSleep) {
          if (sleeps.length !== 1 || yields.length !== 0 || sleeps[0].thread !== ev.thread || sleeps[0].until !== ev.now + w.p.tSleep)
            return `an idle round (${w.p.yieldStrategy} yield, idle ${idle} ns) should sleep until ${ev.now + w.p.tSleep} ns; it emitted ${JSON.stringify(out)}`;
        } else if (yields.length !== 1 || sleeps.length !== 0) {
          return `an idle round (${w.p.yieldStrategy} yield, idle ${idle} ns) should yield immediately; it emitted ${JSON.stringify(out)}`;
        }
        return undefined;
      }),
  },
  {
    name: 'dispatcher/sleeping-thread-wakes-at-its-time',
    description:
      'The first accepted event at or after a sleeping thread\'s wake time wakes it (thread.woke at that wake time), and no thread is reported awake before its time unless explicitly woken.',
    runs: 300,
    property: (machine) =>
      monitored(machine, (w, ev, out) => {
        if (!accepted(out)) return undefined;
        const woke = out.filter((x) => x.type === 'thread.woke') as Extract<Emitted, { type: 'thread.woke' }>[];
        for (const [i, t] of w.threads.entries()) {
          const due = t.sleepingUntil !== null && t.sleepingUntil <= ev.now;
          const explicit = t.sleepingUntil !== null && ev.type === 'thread.wake' && ev.thread === i;
          const mine = woke.filter((x) => x.thread === i);
          if (due && !(mine.length === 1 && mine[0].at === t.sleepingUntil))
            return `thread ${i} was due at ${t.sleepingUntil} ns; the event at ${ev.now} ns reported ${JSON.stringify(mine)}`;
          if (!due && !explicit && mine.length > 0) return `thread ${i} reported awake at ${ev.now} ns though due at ${t.sleepingUntil}`;
        }
        return undefined;
      }),
  },
];
