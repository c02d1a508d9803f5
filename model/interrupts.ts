/**
 * Interrupt accounting on the receiving host of a run, read from the recorded stream (an observer,
 * like every metric here), for the VNET/P family (dissertation §3.2 and §4.3):
 *
 * - physical interrupts: the host NIC's `irq` effects (`X.nic`);
 * - virtual interrupts, those delivered to the guest: on plain VNET/P the receive virtio ring's
 *   `irq` effect (`X.rx`, one used-buffer notification raised after the frame is in the ring);
 *   with optimistic interrupts, the guest-interrupts line's `virq.taken` effects (`X.virq`; EVI or
 *   EoC, taken at once or from the pending bit);
 * - EVIs decided: the optimistic-interrupts machine's `evi.attempted` (`X.oi`); EVIs raised: its
 *   `virq.inject` of kind `evi`; premature: the line's `handler.premature` with source `evi` (the
 *   handler found the ring empty, §4.3.1 case 2); masked: EVIs discarded because the guest line was
 *   masked, whether the VMM saw the mask bit when deciding (`evi.masked`) or the line dropped the
 *   raise (`virq.discarded` with source `evi`).
 */
import { field, type Metric } from './metrics.js';
import type { HostName } from './overlay-path.js';
import type { TraceRecord } from './recorder.js';

export interface InterruptCounts {
  /** Host NIC interrupts on the receiving host. */
  readonly physical: number;
  /** Interrupts delivered to the receiving guest. */
  readonly virtual: number;
  /** EVI decisions (one per host NIC arrival with optimistic interrupts; 0 without). */
  readonly eviDecided: number;
  readonly eviRaised: number;
  readonly eviPremature: number;
  readonly eviMasked: number;
}

export interface InterruptFractions {
  /** Virtual interrupts per physical interrupt (null without physical interrupts). */
  readonly virqPerPirq: number | null;
  /** Premature EVI handler runs per EVI raised (null without EVIs raised). */
  readonly eviPrematureFraction: number | null;
  /** EVIs discarded on a masked guest line per EVI decided (null without EVIs decided). */
  readonly eviMaskedFraction: number | null;
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : null);

export function interruptFractions(c: InterruptCounts): InterruptFractions {
  return { virqPerPirq: ratio(c.virtual, c.physical), eviPrematureFraction: ratio(c.eviPremature, c.eviRaised), eviMaskedFraction: ratio(c.eviMasked, c.eviDecided) };
}

/**
 * Counts the interrupts of host `h` (the receiver) from the stream, from `fromNs` on. Whether the
 * path has optimistic interrupts is read from the stream itself: a taken interrupt on the
 * guest-interrupts line `X.virq` counts as virtual, and then the ring's notifications (which no
 * longer raise the guest's interrupt there) do not.
 */
export function interruptAccounting(h: HostName, fromNs = 0): Metric<InterruptCounts> {
  if (h !== 'A' && h !== 'B') throw new RangeError(`interrupt accounting host must be 'A' or 'B', got ${String(h)}`);
  if (!Number.isSafeInteger(fromNs) || fromNs < 0) throw new RangeError(`interrupt accounting fromNs must be a non-negative integer, got ${fromNs}`);
  const nic = `${h}.nic`;
  const ring = `${h}.rx`;
  const line = `${h}.virq`;
  const oi = `${h}.oi`;
  let physical = 0;
  let ringIrq = 0;
  let taken = 0;
  let lineSeen = false;
  let eviDecided = 0;
  let eviRaised = 0;
  let eviPremature = 0;
  let eviMasked = 0;
  return {
    onRecord: (r: TraceRecord) => {
      if (r.kind !== 'effect') {
        // The line exists as soon as it is sent anything (its configuration or a raise).
        if (r.component === line) lineSeen = true;
        return;
      }
      if (r.component === line) lineSeen = true;
      if (r.t < fromNs) return;
      if (r.component === nic) {
        if (r.type === 'irq') physical++;
      } else if (r.component === ring) {
        if (r.type === 'irq') ringIrq++;
      } else if (r.component === line) {
        if (r.type === 'virq.taken') taken++;
        else if (r.type === 'handler.premature' && field(r, 'source') === 'evi') eviPremature++;
        else if (r.type === 'virq.discarded' && field(r, 'source') === 'evi') eviMasked++;
      } else if (r.component === oi) {
        if (r.type === 'evi.attempted') eviDecided++;
        else if (r.type === 'evi.masked') eviMasked++;
        else if (r.type === 'virq.inject' && field(r, 'kind') === 'evi') eviRaised++;
      }
    },
    result: () => ({ physical, virtual: lineSeen ? taken : ringIrq, eviDecided, eviRaised, eviPremature, eviMasked }),
  };
}
