/**
 * Fault injection on the wire between two hosts: a reusable piece of the model (STYLE.md, P's
 * `FailureInjector`), given to a path as its `WireFaultHook` (model/overlay-path.ts).
 *
 * For each packet the sending NIC puts on the wire, a fault model chooses one action:
 *
 * - `deliver`: the receiving NIC gets it once, intact, when its last bit arrives;
 * - `drop`: it is lost on the wire (counted `wire-loss`);
 * - `duplicate`: the receiving NIC gets it twice (counted `duplicate`);
 * - `delay`: it arrives `ns` later than it would, so later packets overtake it (counted `delay`);
 * - `corrupt`: one byte is flipped; the receiving MAC's frame check sequence (IEEE 802.3 §3.2.9, a
 *   CRC-32 that detects any single-byte error) fails and the MAC discards the frame, so the host
 *   never sees it (counted as a drop with reason `fcs`).
 *
 * Either as a schedule (one action per packet index, `deliver` past its end) or as a seeded random
 * model (independent probabilities per packet, drawn from the `wire.faults` component's stream of
 * model/random.ts, so the same seed gives the same faults).
 *
 * Every fault is counted by kind (`counts`) and recorded in the run's stream (the model must be
 * attached to the path's system before the run): the hook schedules a `fault` event to the `wire.faults`
 * component at the current time, which emits `wire.drop` (with its reason), `wire.duplicate` or
 * `wire.delay` with the packet. Monitors (model/system-invariants.ts) and metrics read them there.
 */
import type { System } from './wiring.js';
import type { HostName, WireFaultHook, WirePacket } from './overlay-path.js';
import type { Random } from './random.js';

/** What happens to one packet on the wire. */
export type FaultAction =
  | { readonly kind: 'deliver' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'delay'; readonly ns: number }
  | { readonly kind: 'corrupt'; readonly byte: number };

export type FaultKind = FaultAction['kind'];
/** Why the wire dropped a packet. */
export type WireDropReason = 'wire-loss' | 'fcs';

/** Independent per-packet probabilities of the random fault model (their sum at most 1). */
export interface FaultProbabilities {
  readonly loss: number;
  readonly duplicate: number;
  /** A delay of 1 to `maxDelayNs` ns, uniform. */
  readonly reorder: number;
  readonly corrupt: number;
  /** Largest extra delay of a reordered packet, ns (default 50 us). */
  readonly maxDelayNs?: number;
}

/** The effects the `wire.faults` component emits. */
export type FaultEffect =
  | { type: 'wire.drop'; reason: WireDropReason; from: HostName; to: HostName; index: number; packet: Uint8Array; byte?: number }
  | { type: 'wire.duplicate'; from: HostName; to: HostName; index: number; packet: Uint8Array }
  | { type: 'wire.delay'; from: HostName; to: HostName; index: number; packet: Uint8Array; ns: number };

/** The component that records faults. */
export const FAULTS_COMPONENT = 'wire.faults';

/** Largest delay a schedule may give one packet (1 s): far below the bridge's reassembly timeout. */
export const MAX_FAULT_DELAY_NS = 1_000_000_000;

/** A bad fault schedule or probability: names the field and the allowed range. */
export class FaultInputError extends Error {
  override readonly name = 'FaultInputError';
  constructor(field: string, value: unknown, allowed: string) {
    super(`faults: ${field} = ${JSON.stringify(value)} is not allowed; expected ${allowed}`);
  }
}

function checkAction(a: FaultAction, field: string): FaultAction {
  switch (a?.kind) {
    case 'deliver':
    case 'drop':
    case 'duplicate':
      return a;
    case 'delay':
      if (!Number.isSafeInteger(a.ns) || a.ns < 1 || a.ns > MAX_FAULT_DELAY_NS) throw new FaultInputError(`${field}.ns`, a.ns, `an integer from 1 to ${MAX_FAULT_DELAY_NS} ns`);
      return a;
    case 'corrupt':
      if (!Number.isSafeInteger(a.byte) || a.byte < 0) throw new FaultInputError(`${field}.byte`, a.byte, 'a non-negative integer (taken modulo the packet length)');
      return a;
    default:
      throw new FaultInputError(`${field}.kind`, (a as { kind?: unknown })?.kind, 'one of deliver, drop, duplicate, delay, corrupt');
  }
}

function checkProbabilities(p: FaultProbabilities): Required<FaultProbabilities> {
  for (const f of ['loss', 'duplicate', 'reorder', 'corrupt'] as const) {
    const v = p[f];
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new FaultInputError(f, v, 'a probability from 0 to 1');
  }
  const sum = p.loss + p.duplicate + p.reorder + p.corrupt;
  if (sum > 1) throw new FaultInputError('loss + duplicate + reorder + corrupt', sum, 'at most 1');
  const maxDelayNs = p.maxDelayNs ?? 50_000;
  if (!Number.isSafeInteger(maxDelayNs) || maxDelayNs < 1 || maxDelayNs > MAX_FAULT_DELAY_NS) {
    throw new FaultInputError('maxDelayNs', maxDelayNs, `an integer from 1 to ${MAX_FAULT_DELAY_NS} ns`);
  }
  return { ...p, maxDelayNs };
}

/**
 * A fault model for one path's wire. Build the path with `wireFaults: faults.hook`, then
 * `faults.attach(path.system)` before running it.
 */
export class WireFaults {
  /** Faults by kind (`deliver` counts packets passed intact). */
  readonly counts: Record<FaultKind, number> = { deliver: 0, drop: 0, duplicate: 0, delay: 0, corrupt: 0 };
  readonly #choose: (p: WirePacket, random: Random | undefined) => FaultAction;
  #system: System | undefined;
  #random: Random | undefined;

  private constructor(choose: (p: WirePacket, random: Random | undefined) => FaultAction) {
    this.#choose = choose;
  }

  /** One action per packet index (`schedule[i]` for the i-th packet on the wire); `deliver` past the end. */
  static scheduled(schedule: readonly FaultAction[]): WireFaults {
    if (!Array.isArray(schedule)) throw new FaultInputError('schedule', schedule, 'an array of fault actions');
    const s = schedule.map((a, i) => checkAction(a, `schedule[${i}]`));
    return new WireFaults((p) => s[p.index] ?? { kind: 'deliver' });
  }

  /** Independent random faults per packet, from the `wire.faults` component's random stream. */
  static random(probabilities: FaultProbabilities): WireFaults {
    const p = checkProbabilities(probabilities);
    return new WireFaults((pkt, random) => {
      const u = random!.nextFloat();
      let edge = p.loss;
      if (u < edge) return { kind: 'drop' };
      if (u < (edge += p.duplicate)) return { kind: 'duplicate' };
      if (u < (edge += p.reorder)) return { kind: 'delay', ns: random!.nextInt(1, p.maxDelayNs) };
      if (u < (edge += p.corrupt)) return { kind: 'corrupt', byte: random!.nextInt(0, pkt.packet.length - 1) };
      return { kind: 'deliver' };
    });
  }

  /** No faults, but still attached and counting (a control for the same harness). */
  static none(): WireFaults {
    return WireFaults.scheduled([]);
  }

  /** Drops by reason. */
  get drops(): Readonly<Record<WireDropReason, number>> {
    return { 'wire-loss': this.counts.drop, fcs: this.counts.corrupt };
  }

  /**
   * Adds the `wire.faults` component to the path's system: faults are then recorded in the stream
   * and the random model draws from that component's stream. Call once, before the run.
   */
  attach(system: System): void {
    if (this.#system) throw new Error('this fault model is already attached to a system');
    const comp = system.addComponent(FAULTS_COMPONENT, (e, ctx) => {
      if (e.type === 'fault') ctx.emit((e as unknown as { effect: FaultEffect }).effect);
    });
    this.#system = system;
    this.#random = comp.random;
  }

  /** The hook for the path's `wireFaults` option. */
  readonly hook: WireFaultHook = (p, deliver) => {
    // Unattached, a fault would be counted here but missing from the run's stream, where monitors and metrics read it.
    if (!this.#system) throw new Error('the fault model must be attached to the system (faults.attach(path.system)) before the run');
    const a = this.#choose(p, this.#random);
    this.counts[a.kind]++;
    const base = { from: p.from, to: p.to, index: p.index, packet: p.packet };
    switch (a.kind) {
      case 'deliver':
        deliver(p.arriveNs, p.packet);
        return;
      case 'drop':
        this.#record({ type: 'wire.drop', reason: 'wire-loss', ...base });
        return;
      case 'duplicate':
        deliver(p.arriveNs, p.packet);
        deliver(p.arriveNs, p.packet);
        this.#record({ type: 'wire.duplicate', ...base });
        return;
      case 'delay':
        deliver(p.arriveNs + a.ns, p.packet);
        this.#record({ type: 'wire.delay', ...base, ns: a.ns });
        return;
      case 'corrupt': {
        // The receiving MAC computes the CRC over the damaged bytes, finds a mismatch and discards
        // the frame: the host sees nothing, so only the byte's position is kept.
        const byte = a.byte % Math.max(1, p.packet.length);
        this.#record({ type: 'wire.drop', reason: 'fcs', ...base, byte });
        return;
      }
    }
  };

  #record(effect: FaultEffect): void {
    // Recorded at the time the packet went on the wire, before any copy of it can arrive.
    this.#system!.scheduleAt(this.#system!.now, FAULTS_COMPONENT, { type: 'fault', effect });
  }
}
