/**
 * The device allocator against a plain table kept by an outside monitor: the monitor applies the
 * rule "a free host NIC may be given to a vNIC; a release frees it" and says where each arrival,
 * EVI and EoC must go.
 */
import fc from 'fast-check';
import type { AnyStateMachine } from 'xstate';
import type { AnyCatalogEntry } from '../machines/catalog-entry.js';
import { entry, type Emitted, type Event, type Params } from '../machines/device-allocator.js';
import { randomRun } from '../model/explore.js';
import { withMachine, type MachineProperty } from './harness.js';

const e = entry as unknown as AnyCatalogEntry;

export const properties: readonly MachineProperty[] = [
  {
    name: 'device-allocator/routes-by-reference-table',
    description:
      'Against a reference table: an assignment succeeds exactly when the host NIC exists and is free; an arrival goes cut-through to the owner or takes the VNET/P path; an EVI or EoC reaches the owner only, or no vNIC.',
    runs: 300,
    property: (machine: AnyStateMachine) =>
      fc.property(fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 60, size: 'max' }), (choices) => {
        const run = randomRun(withMachine(e, machine), e.samples[0].input, choices, { checkInvariants: false });
        const p = run.initial.context.p as Params;
        const owner = new Map<number, number>();
        for (const [i, step] of run.steps.entries()) {
          const ev = step.event as Event;
          const out = step.emitted as readonly Emitted[];
          const fail = (why: string) => {
            throw new Error(`step ${i} ${JSON.stringify(ev)}: ${why}; emitted ${JSON.stringify(out)}`);
          };
          const has = (pred: (x: Emitted) => boolean) => out.some(pred);
          if (ev.type === 'assign') {
            const ok = ev.hostNic >= 0 && ev.hostNic < p.hostNics && ev.vnic >= 0 && ev.vnic < p.vnics && !owner.has(ev.hostNic);
            if (ok !== has((x) => x.type === 'assigned')) fail(ok ? 'a free host NIC was not assigned' : 'a busy or unknown host NIC was assigned');
            if (ok) owner.set(ev.hostNic, ev.vnic);
          } else if (ev.type === 'release') {
            owner.delete(ev.hostNic);
          } else if (ev.type === 'host.arrival') {
            const v = owner.get(ev.hostNic);
            const ok = has((x) => x.type === 'path' && (v === undefined ? x.path === 'vnetp' : x.path === 'cut-through' && x.vnic === v));
            if (!ok) fail(`expected ${v === undefined ? 'the VNET/P path' : `cut-through to vNIC ${v}`}`);
          } else if (ev.type === 'host.notify') {
            const v = owner.get(ev.hostNic);
            const routes = out.filter((x) => x.type === 'route');
            if (v === undefined ? routes.length > 0 : routes.length !== 1 || routes[0].vnic !== v)
              fail(`expected ${v === undefined ? 'no route' : `one route to vNIC ${v}`}`);
          }
        }
      }),
  },
];
