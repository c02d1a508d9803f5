/**
 * DMA buffer ownership observed from the effects: each effect names a buffer, and the monitor
 * keeps its own owner for every buffer from those effects alone.
 */
import fc from 'fast-check';
import type { AnyStateMachine } from 'xstate';
import type { AnyCatalogEntry } from '../machines/catalog-entry.js';
import { entry, type Emitted, type Params } from '../machines/memory-allocator.js';
import { randomRun } from '../model/explore.js';
import { withMachine, type MachineProperty } from './harness.js';

const e = entry as unknown as AnyCatalogEntry;

export const properties: readonly MachineProperty[] = [
  {
    name: 'memory-allocator/effects-respect-ownership',
    description:
      'Replaying the effects: a buffer is handed to the NIC only from the guest, the NIC DMAs only into a buffer posted to it (oldest first), the guest reads only a filled buffer, and a release returns exactly the posted ones.',
    runs: 300,
    property: (machine: AnyStateMachine) =>
      fc.property(fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 60, size: 'max' }), (choices) => {
        const run = randomRun(withMachine(e, machine), e.samples[0].input, choices, { checkInvariants: false });
        const p = run.initial.context.p as Params;
        const owner = Array.from({ length: p.buffers }, () => 'guest' as 'guest' | 'nic' | 'filled');
        const posted: number[] = [];
        for (const [i, step] of run.steps.entries()) {
          for (const x of step.emitted as readonly Emitted[]) {
            const fail = (why: string) => {
              throw new Error(`step ${i} ${JSON.stringify(step.event)}: ${why}`);
            };
            if (x.type === 'nic.post') {
              if (owner[x.bufferId] !== 'guest') fail(`buffer ${x.bufferId} posted while ${owner[x.bufferId]}`);
              owner[x.bufferId] = 'nic';
              posted.push(x.bufferId);
            } else if (x.type === 'dma') {
              if (owner[x.bufferId] !== 'nic' || posted[0] !== x.bufferId) fail(`DMA into buffer ${x.bufferId}, which is ${owner[x.bufferId]}`);
              posted.shift();
              owner[x.bufferId] = 'filled';
            } else if (x.type === 'rx.read') {
              if (owner[x.bufferId] !== 'filled') fail(`guest read buffer ${x.bufferId}, which is ${owner[x.bufferId]}`);
              owner[x.bufferId] = 'guest';
            } else if (x.type === 'reclaimed') {
              if ([...x.bufferIds].sort().join() !== [...posted].sort().join()) fail(`reclaimed ${x.bufferIds.join()} but ${posted.join()} were posted`);
              for (const b of posted) owner[b] = 'guest';
              posted.length = 0;
            }
          }
        }
      }),
  },
];
