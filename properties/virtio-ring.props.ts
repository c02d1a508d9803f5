/**
 * Properties of the virtio ring handshake stated from the specification's side, independently of
 * how the machine decides: an outside monitor recomputes, from the snapshot before each step,
 * whether the other side asked to be notified, and compares with what the step emitted.
 */
import type { AnyMachineSnapshot, AnyStateMachine } from 'xstate';
import { entry, u16, vringNeedEvent, type Context, type Emitted } from '../machines/virtio-ring.js';
import { stepsProperty, type MachineProperty } from './harness.js';
import { matchesReferenceRing } from './virtio-ring-reference.js';

const ctx = (s: AnyMachineSnapshot) => s.context as Context;
const emittedOf = (step: { emitted: readonly { type: string }[] }) => step.emitted as readonly Emitted[];

export const properties: readonly MachineProperty[] = [
  {
    name: 'virtio-ring/matches-reference-ring',
    description:
      'Under any command sequence (fc.commands), descriptor counts, the frames handed on and received (in order) and the drops equal those of a plain FIFO reference ring.',
    runs: 300,
    property: matchesReferenceRing,
  },
  {
    name: 'virtio-ring/interrupt-only-when-requested',
    description:
      'The device asks for a used-buffer interrupt only when the driver allowed it: NO_INTERRUPT clear, or (event index) the new used entries cross used_event. The original raises one on a full-ring drop regardless.',
    runs: 300,
    property: (machine: AnyStateMachine) =>
      stepsProperty(entry as never, machine, (before, step) => {
        const c = ctx(before);
        for (const e of emittedOf(step)) {
          if (e.type !== 'irq' || e.reason !== 'used') continue;
          const allowed = c.p.eventIdx
            ? c.signalOld === null || vringNeedEvent(c.usedEvent, e.usedIdx, c.signalOld)
            : !c.noInterrupt;
          if (!allowed)
            return c.p.eventIdx
              ? `interrupt at used.idx ${e.usedIdx} although used_event ${c.usedEvent} is not in [${c.signalOld}, ${e.usedIdx})`
              : `interrupt although the driver set VRING_AVAIL_F_NO_INTERRUPT`;
        }
        return undefined;
      }),
  },
  {
    name: 'virtio-ring/kick-only-when-requested',
    description:
      'The driver kicks only when the device allowed it: NO_NOTIFY clear, or (event index) the newly published entries cross avail_event.',
    runs: 300,
    property: (machine: AnyStateMachine) =>
      stepsProperty(entry as never, machine, (before, step) => {
        const c = ctx(before);
        for (const e of emittedOf(step)) {
          if (e.type !== 'kick') continue;
          const allowed = c.p.eventIdx ? vringNeedEvent(c.availEvent, e.availIdx, c.kickOld) : !c.noNotify;
          if (!allowed) return `kick at avail.idx ${e.availIdx} although the device suppressed notifications`;
        }
        return undefined;
      }),
  },
  {
    name: 'virtio-ring/indices-only-move-forward',
    description:
      'avail.idx and used.idx only move forward, by at most the queue size per step, modulo 2^16; the driver never decrements avail.idx.',
    runs: 300,
    property: (machine: AnyStateMachine) =>
      stepsProperty(entry as never, machine, (before, step) => {
        const b = ctx(before);
        const a = ctx(step.snapshot);
        const da = u16(a.availIdx - b.availIdx);
        const du = u16(a.usedIdx - b.usedIdx);
        if (da > b.p.queueSize) return `avail.idx moved from ${b.availIdx} to ${a.availIdx}`;
        if (du > b.p.queueSize) return `used.idx moved from ${b.usedIdx} to ${a.usedIdx}`;
        return undefined;
      }),
  },
];
