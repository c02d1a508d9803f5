/**
 * Queue-pair properties checked against the verbs state table, written as data in
 * properties/qp-state-table.json independently of the machine's own table.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { createActor, type AnyStateMachine } from 'xstate';
import { entry, QP_ATTR, QP_STATES, requiredMask, type Emitted, type QpState } from '../machines/queue-pair.js';
import type { AnyCatalogEntry } from '../machines/catalog-entry.js';
import { enabledEvents } from '../model/explore.js';
import { stepsProperty, type MachineProperty } from './harness.js';

const table = JSON.parse(readFileSync(new URL('./qp-state-table.json', import.meta.url), 'utf8')) as {
  legal: Record<QpState, Record<QpState, boolean>>;
};
const e = entry as unknown as AnyCatalogEntry;

/** Attribute masks a caller might pass: exactly the required ones, IB_QP_STATE alone, or every bit. */
const masks = ['required', 'state-only', 'all'] as const;

export const properties: readonly MachineProperty[] = [
  {
    name: 'queue-pair/modify-follows-verbs-state-table',
    description:
      'From any reachable state, a modify to any state moves the QP exactly when the verbs table lists the pair and the mask carries every required attribute; otherwise it fails with EINVAL and the QP stays.',
    runs: 400,
    property: (machine: AnyStateMachine) =>
      fc.property(
        fc.integer({ min: 0, max: e.samples.length - 1 }),
        fc.array(fc.nat({ max: 1000 }), { maxLength: 12 }),
        fc.constantFrom(...QP_STATES),
        fc.constantFrom(...masks),
        (sample, choices, to, maskKind) => {
          const input = e.samples[sample].input as { transport?: 'RC' | 'UC' | 'UD' };
          const actor = createActor(machine, { input: input as never });
          const out: Emitted[] = [];
          actor.on('*', (x: Emitted) => out.push(x));
          actor.start();
          for (const c of choices) {
            const ev = enabledEvents(e, actor.getSnapshot());
            if (ev.length) actor.send(ev[c % ev.length]);
          }
          const from = actor.getSnapshot().value as QpState;
          const transport = actor.getSnapshot().context.p.transport;
          const mask = maskKind === 'required' ? requiredMask(from, to, transport) : maskKind === 'state-only' ? QP_ATTR.STATE : 0x3fffff;
          const needed = requiredMask(from, to, transport);
          out.length = 0;
          actor.send({ type: 'modify', to, mask });
          const after = actor.getSnapshot().value as QpState;
          actor.stop();
          const shouldMove = table.legal[from][to] && (mask & needed) === needed;
          if (shouldMove && after !== to) throw new Error(`modify ${from} -> ${to} (${maskKind} mask) left the QP in ${after}`);
          if (!shouldMove) {
            if (after !== from) throw new Error(`illegal modify ${from} -> ${to} (${maskKind} mask) moved the QP to ${after}`);
            if (!out.some((x) => x.type === 'modify.failed')) throw new Error(`illegal modify ${from} -> ${to} reported no failure`);
          }
        },
      ),
  },
  {
    name: 'queue-pair/state-changes-are-legal',
    description:
      'Every change of QP state is a legal modify of the verbs table or one of the hardware moves (a completion error to ERR, a UC/UD send error from RTS to SQE).',
    runs: 300,
    property: (machine: AnyStateMachine) =>
      stepsProperty(e, machine, (before, step) => {
        const from = before.value as QpState;
        const to = step.snapshot.value as QpState;
        if (from === to) return undefined;
        if (step.event.type === 'modify') return table.legal[from][to] ? undefined : `modify moved the QP ${from} -> ${to}, not a legal pair`;
        if (to === 'ERR' || (from === 'RTS' && to === 'SQE')) return undefined;
        return `${step.event.type} moved the QP ${from} -> ${to}, which is neither a modify nor a hardware move`;
      }),
  },
];
