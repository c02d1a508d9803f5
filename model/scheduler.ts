/**
 * The discrete-event core: a queue of (time, sequence, target, event) ordered by time, then by
 * the order of scheduling, delivered one at a time to named handlers.
 *
 * Ties at the same nanosecond are broken by a sequence number taken at scheduling, never by object
 * identity or insertion into a sorted array, so the order is a pure function of what was scheduled
 * and when: same inputs, same order, always (ARCHITECTURE.md "Model"). The queue is a binary heap
 * (O(log n) per insert and removal). Handlers may schedule more events, at the current time or
 * later, but never in the past.
 */
import { Clock, TimeError, checkNs } from './clock.js';

/** When to deliver: at an absolute time, or after a delay from now (both integer ns). */
export type When = { readonly atNs: number } | { readonly delayNs: number };

/** One scheduled delivery. `id` is the sequence number: unique, increasing in scheduling order. */
export interface Delivery<E> {
  readonly id: number;
  readonly atNs: number;
  readonly target: string;
  readonly event: E;
}

/** What a handler may do while it handles an event. */
export interface HandlerContext<E> {
  /** Virtual time of this delivery (ns). */
  readonly now: number;
  /** The component this delivery is for. */
  readonly target: string;
  schedule(when: When, target: string, event: E): number;
  /** Ends the current `run` after this delivery. */
  stop(reason: string): void;
}

export type Handler<E> = (event: E, ctx: HandlerContext<E>) => void;

export interface RunOptions {
  /** Deliver events up to and including this time (ns); afterwards the clock reads `until`. */
  readonly until?: number;
  /** Deliver at most this many events in this call. */
  readonly maxEvents?: number;
}

export interface RunResult {
  /** Events delivered by this call. */
  readonly delivered: number;
  /** The clock after the call. */
  readonly now: number;
  /** Why the call returned. */
  readonly stoppedBy: 'empty' | 'until' | 'maxEvents' | 'stop';
  readonly stopReason?: string;
  /** Events still queued. */
  readonly pending: number;
}

/** Earlier time first; at equal times, earlier scheduling first. */
function before<E>(a: Delivery<E>, b: Delivery<E>): boolean {
  return a.atNs < b.atNs || (a.atNs === b.atNs && a.id < b.id);
}

/** A min-heap of deliveries keyed on (atNs, id). */
class DeliveryHeap<E> {
  readonly #a: Delivery<E>[] = [];

  get size(): number {
    return this.#a.length;
  }

  peek(): Delivery<E> | undefined {
    return this.#a[0];
  }

  push(d: Delivery<E>): void {
    const a = this.#a;
    a.push(d);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(a[i], a[parent])) break;
      [a[i], a[parent]] = [a[parent], a[i]];
      i = parent;
    }
  }

  pop(): Delivery<E> | undefined {
    const a = this.#a;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l], a[m])) m = l;
        if (r < a.length && before(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

export class Scheduler<E = unknown> {
  readonly #clock: Clock;
  readonly #heap = new DeliveryHeap<E>();
  readonly #handlers = new Map<string, Handler<E>>();
  readonly #listeners: ((d: Delivery<E>) => void)[] = [];
  /** Ids scheduled and neither delivered nor cancelled. */
  readonly #pending = new Set<number>();
  #nextId = 0;
  #delivered = 0;
  #running = false;
  #stopReason: string | undefined;

  constructor(opts: { readonly startNs?: number } = {}) {
    this.#clock = new Clock(opts.startNs ?? 0);
  }

  /** Current virtual time (ns). */
  get now(): number {
    return this.#clock.now;
  }

  /** Events queued and not cancelled. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Events delivered since the scheduler was made. */
  get delivered(): number {
    return this.#delivered;
  }

  /** Names of the registered targets, in registration order. */
  get targets(): readonly string[] {
    return [...this.#handlers.keys()];
  }

  /** Registers the handler of `target`. Each target has exactly one. */
  register(target: string, handler: Handler<E>): void {
    if (typeof target !== 'string' || target === '') throw new Error(`target name must be a non-empty string, got ${JSON.stringify(target)}`);
    if (this.#handlers.has(target)) throw new Error(`target "${target}" is already registered`);
    this.#handlers.set(target, handler);
  }

  /** Calls `listener` with each delivery just before its handler runs. Returns an unsubscribe. */
  onDeliver(listener: (d: Delivery<E>) => void): () => void {
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners.indexOf(listener);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  /**
   * Queues `event` for `target` at `when`. Returns the delivery id (for `cancel`).
   * Throws a `TimeError` for a non-integer or negative time or delay, or a time in the past.
   */
  schedule(when: When, target: string, event: E): number {
    const atNs = this.#resolve(when);
    if (!this.#handlers.has(target)) {
      throw new Error(`cannot schedule for unknown target "${target}"; known targets: ${this.targets.join(', ') || '(none)'}`);
    }
    const id = this.#nextId++;
    this.#heap.push({ id, atNs, target, event });
    this.#pending.add(id);
    return id;
  }

  /** `schedule({ atNs }, ...)`. */
  scheduleAt(atNs: number, target: string, event: E): number {
    return this.schedule({ atNs }, target, event);
  }

  /** `schedule({ delayNs }, ...)`. */
  scheduleIn(delayNs: number, target: string, event: E): number {
    return this.schedule({ delayNs }, target, event);
  }

  /** Withdraws a queued delivery. Returns false if it was already delivered or cancelled. */
  cancel(id: number): boolean {
    // The heap entry stays and is skipped when it reaches the top (lazy deletion).
    return this.#pending.delete(id);
  }

  /** Time of the next delivery, if any. */
  peekTime(): number | undefined {
    this.#dropCancelledTop();
    return this.#heap.peek()?.atNs;
  }

  /** Ends the current `run` after the delivery in progress. */
  stop(reason: string): void {
    this.#stopReason = reason;
  }

  /**
   * Delivers events in (time, sequence) order until the queue is empty, the next event lies after
   * `until`, `maxEvents` were delivered, or a handler called `stop`. An error thrown by a handler
   * ends the run and propagates.
   */
  run(opts: RunOptions = {}): RunResult {
    if (this.#running) throw new Error('Scheduler.run called from inside a handler');
    const until = opts.until === undefined ? undefined : checkNs('run until', opts.until);
    if (until !== undefined && until < this.now) throw new TimeError('run until', until, `a time no earlier than now (${this.now} ns)`);
    const max = opts.maxEvents ?? Number.POSITIVE_INFINITY;
    if (max !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(max) || max < 0)) {
      throw new Error(`run maxEvents = ${max} is not allowed; expected a non-negative integer`);
    }
    this.#running = true;
    this.#stopReason = undefined;
    let delivered = 0;
    let stoppedBy: RunResult['stoppedBy'] = 'empty';
    try {
      for (;;) {
        if (this.#stopReason !== undefined) {
          stoppedBy = 'stop';
          break;
        }
        if (delivered >= max) {
          stoppedBy = 'maxEvents';
          break;
        }
        this.#dropCancelledTop();
        const next = this.#heap.peek();
        if (next === undefined) {
          stoppedBy = 'empty';
          break;
        }
        if (until !== undefined && next.atNs > until) {
          stoppedBy = 'until';
          break;
        }
        this.#heap.pop();
        this.#pending.delete(next.id);
        this.#clock.advanceTo(next.atNs);
        delivered++;
        this.#delivered++;
        for (const l of this.#listeners.slice()) l(next);
        const handler = this.#handlers.get(next.target)!;
        handler(next.event, {
          now: next.atNs,
          target: next.target,
          schedule: (when, target, event) => this.schedule(when, target, event),
          stop: (reason) => this.stop(reason),
        });
      }
    } finally {
      this.#running = false;
    }
    if (until !== undefined && (stoppedBy === 'empty' || stoppedBy === 'until')) this.#clock.advanceTo(until);
    const stopReason = this.#stopReason;
    this.#stopReason = undefined;
    return {
      delivered,
      now: this.now,
      stoppedBy,
      ...(stoppedBy === 'stop' ? { stopReason } : {}),
      pending: this.pending,
    };
  }

  #resolve(when: When): number {
    if (when === null || typeof when !== 'object') throw new TimeError('schedule when', when, '{ atNs } or { delayNs }');
    if ('atNs' in when) {
      if ('delayNs' in when) throw new TimeError('schedule when', when, 'either { atNs } or { delayNs }, not both');
      const at = checkNs('schedule atNs', when.atNs);
      if (at < this.now) throw new TimeError('schedule atNs', at, `a time no earlier than now (${this.now} ns)`);
      return at;
    }
    if ('delayNs' in when) {
      const at = this.now + checkNs('schedule delayNs', when.delayNs);
      if (!Number.isSafeInteger(at)) throw new TimeError('schedule delayNs', when.delayNs, 'a delay that keeps the time a safe integer');
      return at;
    }
    throw new TimeError('schedule when', when, '{ atNs } or { delayNs }');
  }

  #dropCancelledTop(): void {
    for (let top = this.#heap.peek(); top !== undefined && !this.#pending.has(top.id); top = this.#heap.peek()) {
      this.#heap.pop();
    }
  }
}
