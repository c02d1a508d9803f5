/**
 * Properties of cut-through forwarding stated from the data path's side: copies are counted from
 * the emitted effects, and the header length each frame was encapsulated with is tracked by an
 * outside monitor from the VMM's announcements, not read from the machine's ring.
 */
import fc from 'fast-check';
import type { AnyMachineSnapshot, AnyStateMachine } from 'xstate';
import type { AnyCatalogEntry } from '../machines/catalog-entry.js';
import { entry, type Context, type Emitted, type Event } from '../machines/cut-through.js';
import { randomRun } from '../model/explore.js';
import { stepsProperty, withMachine, type MachineProperty } from './harness.js';

const ctx = (s: AnyMachineSnapshot) => s.context as Context;
const emittedOf = (step: { emitted: readonly { type: string }[] }) => step.emitted as readonly Emitted[];
const e = entry as unknown as AnyCatalogEntry;

export const properties: readonly MachineProperty[] = [
  {
    name: 'cut-through/never-copies-a-payload-byte',
    description:
      'In cut-through mode no step copies: no `copy` effect, every transmit hands the NIC the whole guest buffer as its own segment behind a header segment, and every receive lands by DMA.',
    runs: 200,
    property: (machine: AnyStateMachine) =>
      stepsProperty(e, machine, (before, step) => {
        if (ctx(before).p.mode !== 'cut-through') return undefined;
        const ev = step.event as Event;
        for (const x of emittedOf(step)) {
          if (x.type === 'copy') return `${x.bytes} bytes copied in cut-through mode`;
          if (x.type === 'rx.placed' && x.via !== 'dma') return `frame ${x.frameId} placed by ${x.via}`;
          if (x.type === 'nic.tx') {
            const [h, g, ...more] = x.segments;
            if (ev.type !== 'guest.tx') return 'nic.tx without a guest transmit';
            if (h?.kind !== 'header' || g?.kind !== 'guest' || more.length > 0 || g.bytes !== ev.frame.bytes)
              return `transmit of frame ${ev.frame.id} is not [header, guest buffer]: ${JSON.stringify(x.segments)}`;
          }
        }
        return undefined;
      }, 'cut-through/never-copies-a-payload-byte'),
  },
  {
    name: 'cut-through/copy-mode-copies-each-frame-once',
    description:
      'With cut-through off (VNET/P), each transmitted frame and each frame placed in a guest buffer is copied exactly once, all its bytes; a dropped frame is not copied.',
    runs: 200,
    property: (machine: AnyStateMachine) =>
      stepsProperty(e, machine, (before, step) => {
        if (ctx(before).p.mode !== 'copy') return undefined;
        const ev = step.event as Event;
        const copies = emittedOf(step).filter((x) => x.type === 'copy');
        const moved = emittedOf(step).filter((x) => x.type === 'nic.tx' || x.type === 'rx.placed').length;
        if (copies.length !== moved) return `${copies.length} copies for ${moved} frames moved by ${ev.type}`;
        if ((ev.type === 'guest.tx' || ev.type === 'host.rx') && copies.some((x) => x.bytes !== ev.frame.bytes))
          return `copied ${copies.map((x) => x.bytes).join(', ')} bytes of a ${ev.frame.bytes}-byte frame`;
        return undefined;
      }, 'cut-through/copy-mode-copies-each-frame-once'),
  },
  {
    name: 'cut-through/guest-never-strips-stale-length',
    description:
      'Every frame the guest hands up was stripped of exactly the header length in force when it was received (the length the VMM last announced before it), including across header changes mid-stream.',
    runs: 300,
    property: (machine: AnyStateMachine) =>
      fc.property(
        fc.integer({ min: 0, max: e.samples.length - 1 }),
        fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 60, size: 'max' }),
        (sample, choices) => {
          const run = randomRun(withMachine(e, machine), e.samples[sample].input, choices, { checkInvariants: false });
          const p = ctx(run.initial).p;
          // The monitor's own record: the length in force, and what each placed frame carries.
          let inForce = p.mode === 'cut-through' ? p.headerBytes : 0;
          const carried = new Map<number, number>();
          for (const step of run.steps) {
            const ev = step.event as Event;
            for (const x of emittedOf(step)) {
              if (x.type === 'virq.config-change' && ev.type === 'vmm.header-change') inForce = ev.headerBytes;
              if (x.type === 'rx.placed') carried.set(x.frameId, inForce);
              if (x.type === 'rx.frame' && carried.get(x.frameId) !== x.headerBytes)
                throw new Error(`frame ${x.frameId} received with ${carried.get(x.frameId)} header bytes was stripped of ${x.headerBytes}; events: ${run.steps.map((s) => s.event.type).join(' ')}`);
            }
          }
        },
      ),
  },
];
