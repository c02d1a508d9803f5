/**
 * Shadow-connection properties, stated as outside monitors of runs: the QP moves the CM asks for
 * are followed through the verbs state table (queue-pair.ts `LEGAL_MODIFY` and the required
 * attributes), and the teardown rules are checked on the messages the machine sends.
 */
import fc from 'fast-check';
import type { AnyMachineSnapshot, AnyStateMachine, EventObject } from 'xstate';
import type { AnyCatalogEntry } from '../machines/catalog-entry.js';
import { LEGAL_MODIFY, QP_ATTR, requiredMask, type QpState } from '../machines/queue-pair.js';
import { entry, type Input } from '../machines/shadow-connection.js';
import { randomRun, type RandomStep } from '../model/explore.js';
import { withMachine, type MachineProperty } from './harness.js';

const e = entry as unknown as AnyCatalogEntry;

/** The legal QP order, from an exhaustive retry budget of 1 and of 0 (the first try times out). */
export const LINUX_INPUTS: readonly Input[] = [{ maxCmRetries: 1 }, { maxCmRetries: 0 }];

const attrName = (bit: number) => Object.entries(QP_ATTR).find(([, v]) => v === bit)?.[0] ?? String(bit);

/** Names the attribute bits of `mask`. */
export function attrNames(mask: number): string[] {
  const out: string[] = [];
  for (let b = 0; b < 31; b++) if (mask & (1 << b)) out.push(attrName(1 << b));
  return out;
}

/**
 * A run of `machine` from `inputs[i]`, with the events chosen by `choices`, fed to a monitor made
 * fresh for the run; the first complaint fails the property, naming the events up to it.
 */
export function monitoredRuns(
  machine: AnyStateMachine,
  inputs: readonly Input[],
  monitor: () => (before: AnyMachineSnapshot, step: RandomStep) => string | undefined,
) {
  const m = withMachine(e, machine);
  return fc.property(
    fc.integer({ min: 0, max: inputs.length - 1 }),
    fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 40 }),
    (i, choices) => {
      const run = randomRun(m, inputs[i], choices, { checkInvariants: false });
      const check = monitor();
      let before = run.initial;
      const path: EventObject[] = [];
      for (const step of run.steps) {
        path.push(step.event);
        const problem = check(before, step);
        if (problem) throw new Error(`${problem}\n  after events: ${path.map((x) => JSON.stringify(x)).join(' ; ')}`);
        before = step.snapshot;
      }
    },
  );
}

/**
 * The QP, created by rdma_create_qp in INIT, follows the machine's `qp.modify` effects; a modify
 * that is not a legal pair of the verbs table, or lacks an attribute the RC transport requires
 * for it, is what a real QP refuses with EINVAL.
 */
export function qpLegalityProperty(machine: AnyStateMachine, inputs: readonly Input[]) {
  return monitoredRuns(machine, inputs, () => {
    let qp: QpState = 'INIT';
    return (_before, step) => {
      for (const x of step.emitted as { type: string; to?: QpState; mask?: number }[]) {
        if (x.type !== 'qp.modify' || !x.to || x.mask === undefined) continue;
        if (!LEGAL_MODIFY[qp].includes(x.to)) return `illegal QP modify ${qp} -> ${x.to}: not a pair of the verbs state table`;
        const need = requiredMask(qp, x.to, 'RC');
        const missing = need & ~x.mask;
        if (missing) return `illegal QP modify ${qp} -> ${x.to}: the mask lacks ${attrNames(missing).join(', ')}`;
        qp = x.to;
      }
      return undefined;
    };
  });
}

const sent = (step: RandomStep, msg: string, retry?: boolean) =>
  (step.emitted as { type: string; msg?: string; retry?: boolean }[]).some(
    (x) => x.type === 'cm.send' && x.msg === msg && (retry === undefined || x.retry === retry),
  );

export const properties: readonly MachineProperty[] = [
  {
    name: 'shadow-connection/qp-modifies-are-legal',
    description:
      'In the Linux order every qp.modify the CM emits is accepted by a verbs QP that starts in INIT: a legal pair of the state table with every required RC attribute.',
    runs: 300,
    property: (machine) => qpLegalityProperty(machine, LINUX_INPUTS),
  },
  {
    name: 'shadow-connection/timewait-left-only-by-timer',
    description: 'TIMEWAIT is left only when the time-wait timer expires.',
    runs: 300,
    property: (machine) =>
      monitoredRuns(machine, LINUX_INPUTS, () => (before, step) =>
        before.value === 'TIMEWAIT' && step.snapshot.value !== 'TIMEWAIT' && step.event.type !== 'timer.timewait'
          ? `${step.event.type} moved TIMEWAIT to ${String(step.snapshot.value)}`
          : undefined,
      ),
  },
  {
    name: 'shadow-connection/dreq-answered-with-drep',
    description: 'A DREQ received is answered with a DREP: when the CID leaves DREQ_RCVD, and on every duplicate DREQ in TIMEWAIT.',
    runs: 300,
    property: (machine) =>
      monitoredRuns(machine, LINUX_INPUTS, () => (before, step) => {
        const leavesDreqRcvd = before.value === 'DREQ_RCVD' && step.snapshot.value !== 'DREQ_RCVD';
        const duplicate = before.value === 'TIMEWAIT' && step.event.type === 'cm.recv' && (step.event as { msg?: string }).msg === 'DREQ';
        return (leavesDreqRcvd || duplicate) && !sent(step, 'DREP') ? `${step.event.type} in ${String(before.value)} sent no DREP` : undefined;
      }),
  },
  {
    name: 'shadow-connection/dreq-sent-only-from-established',
    description: 'A first DREQ is sent only from ESTABLISHED, and a retried one only from DREQ_SENT.',
    runs: 300,
    property: (machine) =>
      monitoredRuns(machine, LINUX_INPUTS, () => (before, step) => {
        if (sent(step, 'DREQ', false) && before.value !== 'ESTABLISHED') return `a DREQ was sent from ${String(before.value)}`;
        if (sent(step, 'DREQ', true) && before.value !== 'DREQ_SENT') return `a DREQ was retried from ${String(before.value)}`;
        return undefined;
      }),
  },
];
