/**
 * Wiring: xstate actors (and plain components) run under the discrete-event scheduler.
 *
 * A machine never calls another machine; it emits effects. The wiring records every effect and
 * routes it, through handlers registered with `route(from, effectType, fn)`, to events scheduled
 * for other components after a delay (a VM exit, a copy, a wire). Every event the scheduler
 * delivers is recorded and sent to its actor. After each delivery the actor's catalog invariants
 * are checked (on by default), and a violation stops the run with the trace that led to it
 * (ARCHITECTURE.md "Model"). System-level invariants (`addMonitor`, model/system-invariants.ts) see
 * every event and effect unsummarized and are asked after every delivery, with the same outcome.
 *
 * Within one delivery the stream reads: the event, then the effects it caused, in emission order.
 * Routes only schedule; nothing is delivered re-entrantly, so the order of a run is the
 * scheduler's (time, sequence) order and the same seed gives the same trace.
 */
import {
  createActor,
  type Actor,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type EmittedFrom,
  type EventObject,
  type InputFrom,
  type SnapshotFrom,
} from 'xstate';
import type { Invariant } from '../machines/catalog-entry.js';
import { catalog } from '../machines/index.js';
import { Random } from './random.js';
import { Recorder, formatRecord, type RecordKind, type RecorderOptions, type TraceRecord } from './recorder.js';
import { Scheduler, type RunOptions, type RunResult } from './scheduler.js';

/** An event, or a function making it from the delivery time (for machines that take `now`). */
export type Deliverable<E extends EventObject = EventObject> = E | ((nowNs: number) => E);

/** What a route or a plain component may do. */
export interface WiringContext {
  /** Virtual time (ns). */
  readonly now: number;
  /** The component whose effect (route) or event (plain component) is being handled. */
  readonly component: string;
  /** That component's random stream. */
  readonly random: Random;
  /** Delivers `event` to `to` after `delayNs` (a non-negative integer). Returns an id for `cancel`. */
  schedule<E extends EventObject>(delayNs: number, to: string, event: Deliverable<E>): number;
  scheduleAt<E extends EventObject>(atNs: number, to: string, event: Deliverable<E>): number;
  cancel(id: number): boolean;
  /** Ends the run after this delivery (not an error). */
  stop(reason: string): void;
}

/** A plain component's context: it may also emit effects, recorded and routed like a machine's. */
export interface ComponentContext extends WiringContext {
  emit<F extends EventObject>(effect: F): void;
}

export type Route<F extends EventObject = EventObject> = (effect: F, ctx: WiringContext) => void;

export interface SystemOptions {
  /** Root seed of every component's random stream (default 0). */
  readonly seed?: number;
  /** Trace mode (default: full) or a recorder to write to. */
  readonly recorder?: RecorderOptions | Recorder;
  /** Check each machine's catalog invariants after every delivery (default true). */
  readonly checkInvariants?: boolean;
  /** What to do with an event a machine has no transition for: record it as ignored (default), or fail. */
  readonly onIgnored?: 'record' | 'error';
  /** How many recent records a failure carries (default 40). */
  readonly traceOnError?: number;
}

/** A run stopped by a broken invariant, a machine error, or an error in a route or component. */
export class ModelRunError extends Error {
  override readonly name = 'ModelRunError';
  readonly atNs: number;
  readonly component: string;
  /** The invariant that failed, if that is why. */
  readonly invariant: string | undefined;
  /** The latest records, ending with the delivery that failed. */
  readonly trace: readonly TraceRecord[];

  constructor(o: { atNs: number; component: string; invariant?: string; message: string; trace: readonly TraceRecord[]; cause?: unknown }) {
    const lines = o.trace.map(formatRecord).join('\n');
    super(`at ${o.atNs} ns in ${o.component}: ${o.message}\nrecent trace:\n${lines}`, o.cause === undefined ? undefined : { cause: o.cause });
    this.atNs = o.atNs;
    this.component = o.component;
    this.invariant = o.invariant;
    this.trace = o.trace;
  }
}

interface MachineComponent {
  readonly kind: 'machine';
  readonly name: string;
  readonly random: Random;
  readonly actor: Actor<AnyStateMachine>;
  readonly invariants: readonly Invariant<AnyMachineSnapshot>[];
  /** Effects the actor emitted during the current send, in order. */
  readonly emitted: EventObject[];
}

interface PlainComponent {
  readonly kind: 'plain';
  readonly name: string;
  readonly random: Random;
  readonly handler: (event: EventObject, ctx: ComponentContext) => void;
}

type Component = MachineComponent | PlainComponent;

/** A record as a system monitor sees it: the raw message (bytes not summarized), in stream order. */
export interface MonitorRecord {
  readonly t: number;
  /** For an event, the component it was delivered to; for an effect, the one that emitted it. */
  readonly component: string;
  readonly kind: RecordKind;
  readonly message: EventObject;
  /** An event the component's machine had no transition for. */
  readonly ignored: boolean;
}

/**
 * A system-level invariant: an observer of every event and effect of the run (raw, in the order
 * they are recorded), asked after every delivery. Returning a verdict stops the run with a
 * `ModelRunError` naming the invariant (the monitor's name, or the one the verdict gives) and
 * carrying the trace that led to the violation. Monitors run whatever `checkInvariants` says.
 */
export interface SystemMonitor {
  readonly name: string;
  observe?(r: MonitorRecord): MonitorVerdict;
  /** After a delivery to `component` and all its effects. */
  afterDelivery?(now: number, component: string): MonitorVerdict;
}

/** Nothing wrong (undefined), a violation of the monitor's invariant, or of one of several it checks. */
export type MonitorVerdict = string | { readonly invariant: string; readonly message: string } | undefined;

/** A typed handle on a machine component: its actor and routes typed by the machine's effects. */
export interface MachineHandle<M extends AnyStateMachine> {
  readonly name: string;
  readonly actor: Actor<M>;
  route<T extends EmittedFrom<M>['type']>(effectType: T, fn: Route<Extract<EmittedFrom<M>, { type: T }>>): void;
}

export class System {
  readonly recorder: Recorder;
  readonly scheduler = new Scheduler<Deliverable>();
  /** The root random stream; each component gets `random.split(name)`. */
  readonly random: Random;
  readonly #opts: Required<Omit<SystemOptions, 'recorder' | 'seed'>>;
  readonly #components = new Map<string, Component>();
  readonly #routes = new Map<string, { readonly type: string; readonly fn: Route }[]>();
  readonly #monitors: SystemMonitor[] = [];
  #started = false;
  #failure: ModelRunError | undefined;

  constructor(opts: SystemOptions = {}) {
    this.recorder = opts.recorder instanceof Recorder ? opts.recorder : new Recorder(opts.recorder);
    this.random = Random.fromSeed(opts.seed ?? 0);
    this.#opts = {
      checkInvariants: opts.checkInvariants ?? true,
      onIgnored: opts.onIgnored ?? 'record',
      traceOnError: opts.traceOnError ?? 40,
    };
  }

  get now(): number {
    return this.scheduler.now;
  }

  /** Component names in the order they were added. */
  get components(): readonly string[] {
    return [...this.#components.keys()];
  }

  /**
   * Adds an actor of `machine` as component `name`. Its invariants are those of the catalog entry
   * with the machine's id (so mutants made with `provide` are checked too), unless given.
   * Actors start when the first run starts, so that routes added meanwhile see their first effects.
   */
  addMachine<M extends AnyStateMachine>(
    name: string,
    machine: M,
    input?: InputFrom<M>,
    opts: { readonly invariants?: readonly Invariant<SnapshotFrom<M>>[] } = {},
  ): MachineHandle<M> {
    const random = this.#claim(name);
    const actor = createActor(machine, { input }) as Actor<AnyStateMachine>;
    const invariants = (opts.invariants ?? catalog[machine.id]?.invariants ?? []) as readonly Invariant<AnyMachineSnapshot>[];
    const comp: MachineComponent = { kind: 'machine', name, random, actor, invariants, emitted: [] };
    // The listener only collects: a throwing listener would be rethrown by xstate out of band.
    actor.on('*', (e: EventObject) => {
      comp.emitted.push(e);
    });
    // An actor error is read from the snapshot after each step; without an error observer xstate
    // would also rethrow it out of band, as an uncaught exception.
    actor.subscribe({ error: () => {} });
    this.#components.set(name, comp);
    this.scheduler.register(name, (ev, sctx) => this.#deliverToMachine(comp, ev, sctx.now));
    if (this.#started) this.#start(comp);
    return {
      name,
      actor: actor as unknown as Actor<M>,
      route: (effectType, fn) => this.route(name, effectType, fn as unknown as Route),
    };
  }

  /** Adds a plain component: a handler of delivered events that may schedule and emit. */
  addComponent(name: string, handler: (event: EventObject, ctx: ComponentContext) => void): { readonly name: string; readonly random: Random } {
    const random = this.#claim(name);
    const comp: PlainComponent = { kind: 'plain', name, random, handler };
    this.#components.set(name, comp);
    this.scheduler.register(name, (ev, sctx) => this.#deliverToPlain(comp, ev, sctx.now));
    return { name, random };
  }

  /**
   * Routes effects of type `effectType` (or `'*'` for every type) emitted by component `from` to
   * `fn`, which typically schedules an event for another component. Several routes may match one
   * effect; they run in the order they were added. For a catalog machine, an effect type it does
   * not declare is rejected (a misspelt route would otherwise never fire).
   */
  route<F extends EventObject = EventObject & Record<string, unknown>>(from: string, effectType: string, fn: Route<F>): void {
    const comp = this.#components.get(from);
    if (!comp) throw new Error(`route from unknown component "${from}"; known components: ${this.components.join(', ') || '(none)'}`);
    if (comp.kind === 'machine' && effectType !== '*') {
      const entry = catalog[comp.actor.logic.id];
      if (entry && !entry.emits.some((m) => m.type === effectType)) {
        throw new Error(`route from "${from}": machine ${entry.id} emits no "${effectType}"; it emits ${entry.emits.map((m) => m.type).join(', ')}`);
      }
    }
    const list = this.#routes.get(from) ?? [];
    list.push({ type: effectType, fn: fn as unknown as Route });
    this.#routes.set(from, list);
  }

  /**
   * Adds a system-level invariant (model/system-invariants.ts): it sees every record from now on
   * and is asked after every delivery; a violation stops the run like a machine invariant's.
   */
  addMonitor(m: SystemMonitor): void {
    if (typeof m?.name !== 'string' || m.name === '') throw new Error(`a system monitor needs a non-empty name, got ${JSON.stringify(m?.name)}`);
    if (this.#monitors.some((x) => x.name === m.name)) throw new Error(`system monitor "${m.name}" already exists`);
    this.#monitors.push(m);
  }

  /** Schedules an external stimulus (a workload step) `delayNs` from now. */
  schedule<E extends EventObject>(delayNs: number, to: string, event: Deliverable<E>): number {
    return this.scheduler.schedule({ delayNs }, to, event);
  }

  scheduleAt<E extends EventObject>(atNs: number, to: string, event: Deliverable<E>): number {
    return this.scheduler.schedule({ atNs }, to, event);
  }

  /** The current snapshot of machine component `name`. */
  snapshot(name: string): AnyMachineSnapshot {
    const comp = this.#components.get(name);
    if (!comp || comp.kind !== 'machine') throw new Error(`no machine component "${name}"; known components: ${this.components.join(', ')}`);
    return comp.actor.getSnapshot();
  }

  /**
   * Starts the actors (first call only) and runs the scheduler. Throws a `ModelRunError` carrying
   * the recent trace if an invariant breaks or anything in the run throws; the system is then
   * finished and refuses to run again.
   */
  run(opts: RunOptions = {}): RunResult {
    if (this.#failure) throw new Error(`the system already failed and cannot run again: ${this.#failure.message.split('\n')[0]}`);
    try {
      if (!this.#started) {
        this.#started = true;
        for (const c of this.#components.values()) if (c.kind === 'machine') this.#start(c);
      }
      return this.scheduler.run(opts);
    } catch (err) {
      // A bad argument to run itself (a time in the past) is the caller's error, not the model's.
      if (this.#current === undefined && !(err instanceof ModelRunError)) throw err;
      this.#failure =
        err instanceof ModelRunError
          ? err
          : new ModelRunError({
              atNs: this.now,
              component: this.#current ?? '(system)',
              message: `${(err as Error).name ?? 'Error'}: ${(err as Error).message ?? String(err)}`,
              trace: this.recorder.recent(this.#opts.traceOnError),
              cause: err,
            });
      throw this.#failure;
    } finally {
      this.#current = undefined;
    }
  }

  // ---- internals ----------------------------------------------------------------------------------

  /** The component being delivered to, for error reports. */
  #current: string | undefined;

  #claim(name: string): Random {
    if (typeof name !== 'string' || name === '') throw new Error(`component name must be a non-empty string, got ${JSON.stringify(name)}`);
    if (this.#components.has(name)) throw new Error(`component "${name}" already exists`);
    return this.random.split(name);
  }

  #start(comp: MachineComponent): void {
    this.#current = comp.name;
    comp.emitted.length = 0;
    comp.actor.start();
    this.#afterStep(comp, this.now);
  }

  #deliverToMachine(comp: MachineComponent, ev: Deliverable, now: number): void {
    this.#current = comp.name;
    const event = typeof ev === 'function' ? ev(now) : ev;
    const before = comp.actor.getSnapshot();
    comp.emitted.length = 0;
    comp.actor.send(event);
    // xstate keeps the very same snapshot object when no transition was enabled.
    const ignored = comp.actor.getSnapshot() === before;
    this.recorder.record(now, comp.name, 'event', event, { ignored });
    this.#observe(now, comp.name, 'event', event, ignored);
    if (ignored && this.#opts.onIgnored === 'error') {
      throw this.#fail(comp.name, now, `event ${event.type} was ignored: no transition is enabled for it`);
    }
    this.#afterStep(comp, now);
    this.#afterDelivery(comp.name, now);
  }

  /** Records and routes what the actor emitted, then checks its status and invariants. */
  #afterStep(comp: MachineComponent, now: number): void {
    const effects = comp.emitted.splice(0);
    for (const e of effects) this.#emit(comp, e, now);
    const snap = comp.actor.getSnapshot() as AnyMachineSnapshot;
    if (snap.status === 'error') {
      throw this.#fail(comp.name, now, `the machine failed: ${String((snap.error as Error)?.message ?? snap.error)}`, undefined, snap.error);
    }
    if (!this.#opts.checkInvariants) return;
    for (const inv of comp.invariants) {
      let problem: string | undefined;
      try {
        problem = inv.check(snap);
      } catch (err) {
        problem = `the check itself failed: ${(err as Error).message}`;
      }
      if (problem !== undefined) throw this.#fail(comp.name, now, `invariant ${inv.name} violated: ${problem}`, inv.name);
    }
  }

  #deliverToPlain(comp: PlainComponent, ev: Deliverable, now: number): void {
    this.#current = comp.name;
    const event = typeof ev === 'function' ? ev(now) : ev;
    this.recorder.record(now, comp.name, 'event', event);
    this.#observe(now, comp.name, 'event', event, false);
    comp.handler(event, { ...this.#context(comp, now), emit: (effect) => this.#emit(comp, effect, now) });
    this.#afterDelivery(comp.name, now);
  }

  #observe(now: number, component: string, kind: RecordKind, message: EventObject, ignored: boolean): void {
    if (this.#monitors.length === 0) return;
    const r: MonitorRecord = { t: now, component, kind, message, ignored };
    for (const m of this.#monitors) this.#verdict(m, m.observe?.(r), component, now);
  }

  #afterDelivery(component: string, now: number): void {
    for (const m of this.#monitors) this.#verdict(m, m.afterDelivery?.(now, component), component, now);
  }

  #verdict(m: SystemMonitor, v: MonitorVerdict, component: string, now: number): void {
    if (v === undefined) return;
    const [invariant, message] = typeof v === 'string' ? [m.name, v] : [v.invariant, v.message];
    throw this.#fail(component, now, `system invariant ${invariant} violated: ${message}`, invariant);
  }

  #emit(comp: Component, effect: EventObject, now: number): void {
    this.recorder.record(now, comp.name, 'effect', effect);
    this.#observe(now, comp.name, 'effect', effect, false);
    const routes = this.#routes.get(comp.name);
    if (!routes) return;
    for (const r of routes) if (r.type === effect.type || r.type === '*') r.fn(effect, this.#context(comp, now));
  }

  #context(comp: Component, now: number): WiringContext {
    return {
      now,
      component: comp.name,
      random: comp.random,
      schedule: (delayNs, to, event) => this.scheduler.schedule({ delayNs }, to, event),
      scheduleAt: (atNs, to, event) => this.scheduler.schedule({ atNs }, to, event),
      cancel: (id) => this.scheduler.cancel(id),
      stop: (reason) => this.scheduler.stop(reason),
    };
  }

  #fail(component: string, atNs: number, message: string, invariant?: string, cause?: unknown): ModelRunError {
    return new ModelRunError({ atNs, component, invariant, message, trace: this.recorder.recent(this.#opts.traceOnError), cause });
  }
}
