/**
 * §5.3.1 read literally moves the active QP to READY_TO_RECEIVE when the REQ is sent. Under verbs
 * that INIT -> RTR modify needs the destination QPN, receive PSN and responder depth, which only the
 * REP brings, so a real QP refuses it. The QP-legality property, which passes for the Linux order,
 * finds this at once and shrinks it to the single connect call.
 */
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { shadowConnectionMachine } from '../machines/shadow-connection.js';
import { qpLegalityProperty } from './shadow-connection.props.js';

test('the dissertation QP order fails the QP-legality property; the shrunk counterexample is the first connect', () => {
  const result = fc.check(qpLegalityProperty(shadowConnectionMachine, [{ qpOrder: 'dissertation', maxCmRetries: 1 }]), {
    numRuns: 200,
    seed: 42,
  });
  expect(result.failed).toBe(true);
  // Input 0; one choice, which picks the first enabled event of a fresh CID: ca.connect.
  expect(result.counterexample).toEqual([0, [0]]);
  expect(String(result.errorInstance)).toContain(
    'illegal QP modify INIT -> RTR: the mask lacks RQ_PSN, MAX_DEST_RD_ATOMIC, DEST_QPN\n  after events: {"type":"ca.connect"}',
  );
});
