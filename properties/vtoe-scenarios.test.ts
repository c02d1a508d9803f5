/**
 * VNET+VTOE composition (model/vtoe-path.ts): the scenarios of the issue played end to end, and the
 * "sometimes" witnesses showing that the properties' runs do reach the interesting cases
 * (rejection, simultaneous close, RNR retry, flush on error, passive close, SID reuse, link failure
 * mid-transfer, device removal under an open connection). Also: the same seed gives the same trace.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { runVtoePath, type ConnectionPlan, type VtoePathOptions } from '../model/vtoe-path.js';
import { correspondence, data, legality, play, resources, workloadArb, type Workload } from './vtoe-path-checks.js';

const ok = (o: Partial<ConnectionPlan> = {}): ConnectionPlan => ({ listen: true, resolve: 'ok', sendsA: 3, sendsB: 2, ...o });
const run = (o: Omit<VtoePathOptions, 'seed'> & { seed?: number }) => runVtoePath({ seed: 5, ...o });
/** When B's QP puts its first data packet on the wire in the fault-free run of `o` (both sides are connected by then), plus 1 ns. */
const firstDataNs = (o: Omit<VtoePathOptions, 'seed'>) =>
  run(o).system.recorder.records().find((r) => r.kind === 'effect' && r.type === 'wire.send' && r.component.startsWith('B.qp'))!.t + 1;
const allHold = (p: ReturnType<typeof run>) => {
  expect(p.stoppedBy).toBe('empty');
  expect([...correspondence(p), ...data(p), ...resources(p), ...legality(p)]).toEqual([]);
};

describe('VNET+VTOE scenarios', () => {
  test('active and passive open, data both ways, close: everything arrives and everything is released', () => {
    const p = run({ connections: [ok()] });
    allHold(p);
    const c = p.log.conns[0];
    expect(c.side.A.events).toEqual(['ADDRESS_RESOLVED', 'ROUTE_RESOLVED', 'CONNECT_ESTABLISHED', 'DISCONNECTED']);
    expect(c.side.B.events.slice(0, 2)).toEqual(['CONNECT_REQUEST', 'CONNECT_ESTABLISHED']);
    expect(c.side.B.delivered).toEqual([0, 1, 2]);
    expect(c.side.A.delivered).toEqual([0, 1]);
    expect([c.side.A.errors, c.side.B.errors]).toEqual([[], []]);
    // One side closed first (TIME-WAIT), the other after the peer's FIN (CLOSE-WAIT) or at once.
    expect([...c.side.A.visited, ...c.side.B.visited]).toContain('TIME-WAIT');
  });

  test('rejection: nobody listens, the connect fails with ECONNREFUSED', () => {
    const p = run({ connections: [ok({ listen: false })] });
    allHold(p);
    expect(p.log.conns[0].side.A.events.at(-1)).toBe('CONNECT_REJECTED');
    expect(p.log.conns[0].side.A.errors).toEqual(['ECONNREFUSED']);
  });

  test('address and route errors end the connect with EHOSTUNREACH and ENETUNREACH', () => {
    const p = run({ connections: [ok({ resolve: 'address-error' }), ok({ resolve: 'route-error' }), ok()] });
    allHold(p);
    expect(p.log.conns.map((c) => c.side.A.errors)).toEqual([['EHOSTUNREACH'], ['ENETUNREACH'], []]);
    expect(p.log.conns[2].side.B.delivered).toEqual([0, 1, 2]);
  });

  test('unreachable peer: the link is down before the connect, the REQ runs out of retries, the connect fails', () => {
    const p = run({ connections: [ok()], fault: { kind: 'link-down', atNs: 0 } });
    allHold(p);
    const a = p.log.conns[0].side.A;
    expect(a.established).toBe(false);
    expect(a.events).toContain('UNREACHABLE');
    expect(a.errors.length).toBe(1);
  });

  test('connections one after another reuse SIDs after the time-wait', () => {
    const p = run({ connections: [ok(), ok(), ok()] });
    allHold(p);
    expect(p.log.seen.established).toBe(6);
  });

  test('link failure mid-transfer: outstanding work completes with an error and the guests are told', () => {
    const connections = [ok({ sendsA: 4, sendsB: 4 })];
    const p = run({ connections, fault: { kind: 'link-down', atNs: firstDataNs({ connections }) } });
    allHold(p);
    const c = p.log.conns[0];
    expect(c.side.A.established && c.side.B.established).toBe(true);
    expect(c.side.B.delivered.length + c.side.A.delivered.length).toBeLessThan(8);
    // The work outstanding at the failure completed with an error (retry exceeded, then the flush).
    expect([...c.side.A.sendStatus.values(), ...c.side.B.sendStatus.values()].some((st) => st !== 'success')).toBe(true);
  });

  test('device removal: the removed host\'s guest gets ENODEV, the peer a reset, nothing is delivered afterwards', () => {
    const connections = [ok({ sendsA: 4, sendsB: 4 }), ok()];
    const p = run({ connections, fault: { kind: 'device-removal', host: 'B', atNs: firstDataNs({ connections }) } });
    allHold(p);
    const c = p.log.conns[0];
    expect(c.side.B.events.at(-1)).toBe('DEVICE_REMOVAL');
    expect(c.side.B.errors).toContain('ENODEV');
    expect(c.side.A.errors.length).toBeGreaterThan(0);
    expect(p.log.conns[1].side.A.socket).toBeUndefined();
  });

  test('the same seed gives the same trace; another seed another', () => {
    const o = { connections: [ok(), ok({ listen: false })], fault: { kind: 'link-down' as const, atNs: 400_000 } };
    const a = run(o).system.recorder.toJSON();
    expect(run(o).system.recorder.toJSON()).toBe(a);
    expect(run({ ...o, seed: 6 }).system.recorder.toJSON()).not.toBe(a);
  });
});

describe('VNET+VTOE witnesses: the arbitrary runs sometimes reach each case', () => {
  test('rejection, simultaneous close, RNR retry, flush on error, passive close, SID reuse, link failure and device removal mid-connection', () => {
    const seen = { rejection: 0, simultaneousClose: 0, rnrRetry: 0, flushOnError: 0, passiveCloseByA: 0, passiveCloseByB: 0, sidReuse: 0, linkDownMidTransfer: 0, removalWhileOpen: 0 };
    const samples = fc.sample(workloadArb(), { numRuns: 300, seed: 42 }) as Workload[];
    for (const w of samples) {
      const p = play(w);
      const s = p.log.seen;
      if (s.rejections) seen.rejection++;
      if (s.simultaneousCloses) seen.simultaneousClose++;
      if (s.rnrRetries) seen.rnrRetry++;
      if (s.flushCompletions) seen.flushOnError++;
      if (s.sidReused) seen.sidReuse++;
      for (const c of p.log.conns) {
        if (c.side.A.visited.includes('CLOSE-WAIT')) seen.passiveCloseByA++;
        if (c.side.B.visited.includes('CLOSE-WAIT')) seen.passiveCloseByB++;
        const lost = c.side.A.posted.length > c.side.B.delivered.length || c.side.B.posted.length > c.side.A.delivered.length;
        if (w.fault?.kind === 'link-down' && lost) seen.linkDownMidTransfer++;
        if (w.fault?.kind === 'device-removal' && c.side[w.fault.host].established && c.side[w.fault.host].errors.includes('ENODEV')) seen.removalWhileOpen++;
      }
    }
    for (const [k, n] of Object.entries(seen)) expect(n, k).toBeGreaterThan(0);
  });
});
