/**
 * The event dispatcher against a reference dispatcher kept by an outside monitor: its own table
 * with a generation per assignment and its own FIFO of raised events, each bound to the assignment
 * in force when raised.
 */
import fc from 'fast-check';
import type { AnyStateMachine } from 'xstate';
import type { AnyCatalogEntry } from '../machines/catalog-entry.js';
import { entry, type Emitted, type Event, type Kind, type Params } from '../machines/event-dispatcher.js';
import { randomRun } from '../model/explore.js';
import { withMachine, type MachineProperty } from './harness.js';

const e = entry as unknown as AnyCatalogEntry;

export const properties: readonly MachineProperty[] = [
  {
    name: 'event-dispatcher/delivers-to-standing-owner-only',
    description:
      'Against a reference dispatcher: each dispatched event is delivered to the vNIC that held its host NIC when it was raised, if that assignment still stands, and dropped otherwise; nothing is delivered for a released vNIC.',
    runs: 300,
    property: (machine: AnyStateMachine) =>
      fc.property(fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 60, size: 'max' }), (choices) => {
        const run = randomRun(withMachine(e, machine), e.samples[0].input, choices, { checkInvariants: false });
        const p = run.initial.context.p as Params;
        let gen = 0;
        const table = new Map<number, { vnic: number; gen: number }>();
        const queue: { kind: Kind; hostNic: number; vnic: number; gen: number }[] = [];
        for (const [i, step] of run.steps.entries()) {
          const ev = step.event as Event;
          const out = step.emitted as readonly Emitted[];
          const fail = (why: string) => {
            throw new Error(`step ${i} ${JSON.stringify(ev)}: ${why}; emitted ${JSON.stringify(out)}`);
          };
          const delivered = out.filter((x) => x.type === 'virq.deliver');
          if (ev.type !== 'dispatch' && delivered.length > 0) fail('delivered outside a dispatch');
          if (ev.type === 'assign') {
            if (ev.hostNic >= 0 && ev.hostNic < p.hostNics && ev.vnic >= 0 && ev.vnic < p.vnics && !table.has(ev.hostNic))
              table.set(ev.hostNic, { vnic: ev.vnic, gen: gen++ });
          } else if (ev.type === 'release') {
            table.delete(ev.hostNic);
          } else if (ev.type === 'host.event') {
            const row = table.get(ev.hostNic);
            if (row) queue.push({ kind: ev.kind, hostNic: ev.hostNic, vnic: row.vnic, gen: row.gen });
          } else if (ev.type === 'vnic.config-change') {
            const rows = [...table.entries()].filter(([, r]) => r.vnic === ev.vnic).sort((a, b) => a[1].gen - b[1].gen);
            if (rows.length > 0) queue.push({ kind: 'config-change', hostNic: rows[0][0], vnic: ev.vnic, gen: rows[0][1].gen });
          } else if (ev.type === 'dispatch') {
            const head = queue.shift();
            if (!head) {
              if (delivered.length > 0) fail('delivered with nothing raised');
              continue;
            }
            const row = table.get(head.hostNic);
            const standing = row !== undefined && row.gen === head.gen;
            if (standing) {
              if (delivered.length !== 1 || delivered[0].vnic !== head.vnic || delivered[0].kind !== head.kind)
                fail(`expected ${head.kind} delivered to vNIC ${head.vnic}`);
            } else if (delivered.length > 0) fail(`${head.kind} raised for vNIC ${head.vnic} delivered after its release`);
          }
        }
      }),
  },
];
