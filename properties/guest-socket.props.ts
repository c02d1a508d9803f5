/**
 * Guest-socket properties, as outside monitors of random runs: the state changes against the
 * RFC 9293 transitions (with VTOE events in place of segments), refused calls, where data may be
 * sent, how TIME-WAIT ends, and that failures reach the application.
 */
import type { AnyMachineSnapshot } from 'xstate';
import type { AnyCatalogEntry } from '../machines/catalog-entry.js';
import { entry } from '../machines/guest-socket.js';
import type { RandomStep } from '../model/explore.js';
import { stepsProperty, type MachineProperty } from './harness.js';

const e = entry as unknown as AnyCatalogEntry;

/** RFC 9293 §3.3.2 / §3.10 state changes, read with VTOE events for segments (protocol-notes.md §1). */
export const RFC_CHANGES: ReadonlySet<string> = new Set([
  'CLOSED>SYN-SENT', // active OPEN
  'CLOSED>LISTEN', // passive OPEN
  'LISTEN>SYN-RECEIVED', // rcv SYN (CONNECT_REQUEST)
  'LISTEN>CLOSED', // CLOSE
  'SYN-SENT>ESTABLISHED', // rcv SYN,ACK (CONNECT_RESPONSE / CONNECT_ESTABLISHED)
  'SYN-SENT>CLOSED', // RST, error, CLOSE
  'SYN-RECEIVED>ESTABLISHED', // rcv ACK of SYN (CONNECT_ESTABLISHED)
  'SYN-RECEIVED>LISTEN', // RST, from a passive OPEN
  'SYN-RECEIVED>FIN-WAIT-1', // CLOSE
  'ESTABLISHED>FIN-WAIT-1', // CLOSE
  'ESTABLISHED>CLOSE-WAIT', // rcv FIN
  'ESTABLISHED>CLOSED', // rcv RST (DISCONNECTED)
  'FIN-WAIT-1>FIN-WAIT-2', // ACK of FIN
  'FIN-WAIT-1>CLOSING', // rcv FIN
  'FIN-WAIT-1>TIME-WAIT', // FIN and ACK of FIN together
  'FIN-WAIT-2>TIME-WAIT', // rcv FIN
  'CLOSING>TIME-WAIT', // ACK of FIN
  'CLOSE-WAIT>LAST-ACK', // CLOSE
  'CLOSE-WAIT>CLOSED', // rcv RST (DISCONNECTED)
  'LAST-ACK>CLOSED', // ACK of FIN
  'TIME-WAIT>CLOSED', // 2 MSL timeout
]);

const isVtoe = (step: RandomStep, name: string) => step.event.type === 'vtoe.event' && (step.event as { name?: string }).name === name;
const emitted = (step: RandomStep, type: string) => step.emitted.filter((x) => x.type === type);
const CONNECT_FAILURES = ['ADDRESS_ERROR', 'ROUTE_ERROR', 'CONNECT_ERROR', 'UNREACHABLE', 'CONNECT_REJECTED'];

/** The context without its counters: what a refused call must leave untouched. */
const behaviour = (s: AnyMachineSnapshot) => JSON.stringify([s.value, { ...(s.context as object), stats: undefined }]);

export const properties: readonly MachineProperty[] = [
  {
    name: 'guest-socket/state-changes-follow-rfc-9293',
    description:
      'Every change of state is a transition of RFC 9293 with VTOE events for segments, or an ABORT or DEVICE_REMOVAL going to CLOSED.',
    runs: 300,
    property: (machine) =>
      stepsProperty(
        e,
        machine,
        (before, step) => {
          const from = String(before.value);
          const to = String(step.snapshot.value);
          if (from === to) return undefined;
          if (to === 'CLOSED' && (step.event.type === 'app.abort' || isVtoe(step, 'DEVICE_REMOVAL'))) return undefined;
          return RFC_CHANGES.has(`${from}>${to}`) ? undefined : `${step.event.type} moved the socket ${from} -> ${to}, not an RFC 9293 transition`;
        },
        'guest-socket/state-changes-follow-rfc-9293',
      ),
  },
  {
    name: 'guest-socket/data-sent-only-when-open',
    description:
      'Data is handed to the VTOE only in ESTABLISHED and CLOSE-WAIT, and there every send is; elsewhere a send fails with an errno and changes nothing.',
    runs: 300,
    property: (machine) =>
      stepsProperty(
        e,
        machine,
        (before, step) => {
          const open = before.value === 'ESTABLISHED' || before.value === 'CLOSE-WAIT';
          const sends = emitted(step, 'vtoe.send').length;
          if (sends > 0 && !open) return `data was posted in ${String(before.value)}`;
          if (step.event.type === 'app.send' && open && sends !== 1) return `a send in ${String(before.value)} posted ${sends} work requests`;
          return undefined;
        },
        'guest-socket/data-sent-only-when-open',
      ),
  },
  {
    name: 'guest-socket/refused-calls-change-nothing',
    description: 'A call that fails with an errno emits only that error and leaves the state and context (counters aside) as they were.',
    runs: 300,
    property: (machine) =>
      stepsProperty(
        e,
        machine,
        (before, step) => {
          if (!step.event.type.startsWith('app.') || emitted(step, 'app.error').length === 0) return undefined;
          if (step.emitted.length !== 1) return `a refused ${step.event.type} also emitted ${step.emitted.map((x) => x.type).join(', ')}`;
          return behaviour(before) === behaviour(step.snapshot) ? undefined : `a refused ${step.event.type} changed ${behaviour(before)} into ${behaviour(step.snapshot)}`;
        },
        'guest-socket/refused-calls-change-nothing',
      ),
  },
  {
    name: 'guest-socket/time-wait-left-only-by-timer',
    description: 'TIME-WAIT is left only by its timer, an abort, or the removal of the device.',
    runs: 300,
    property: (machine) =>
      stepsProperty(
        e,
        machine,
        (before, step) =>
          before.value === 'TIME-WAIT' &&
          step.snapshot.value !== 'TIME-WAIT' &&
          !(step.event.type === 'timer.timewait' || step.event.type === 'app.abort' || isVtoe(step, 'DEVICE_REMOVAL'))
            ? `${step.event.type} ended TIME-WAIT`
            : undefined,
        'guest-socket/time-wait-left-only-by-timer',
      ),
  },
  {
    name: 'guest-socket/failures-close-and-tell-the-app',
    description:
      'A connection error during an active open leaves the socket CLOSED and the application told (app.error); DEVICE_REMOVAL leaves it CLOSED with ENODEV told.',
    runs: 300,
    property: (machine) =>
      stepsProperty(
        e,
        machine,
        (before, step) => {
          const told = (reason?: string) => emitted(step, 'app.error').some((x) => reason === undefined || (x as { reason?: string }).reason === reason);
          if (before.value === 'SYN-SENT' && CONNECT_FAILURES.some((n) => isVtoe(step, n))) {
            if (step.snapshot.value !== 'CLOSED') return `a connection error left the socket in ${String(step.snapshot.value)}`;
            if (!told()) return 'a connection error was not reported to the application';
          }
          if (isVtoe(step, 'DEVICE_REMOVAL') && !(before.context as { deviceRemoved: boolean }).deviceRemoved) {
            if (step.snapshot.value !== 'CLOSED') return `DEVICE_REMOVAL left the socket in ${String(step.snapshot.value)}`;
            if (!told('ENODEV')) return 'DEVICE_REMOVAL was not reported to the application';
          }
          return undefined;
        },
        'guest-socket/failures-close-and-tell-the-app',
      ),
  },
];
