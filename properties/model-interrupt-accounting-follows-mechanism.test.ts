/**
 * Interrupt accounting (model/interrupts.ts) read from the recorded stream agrees with the
 * mechanism, stated independently of the model's costs: in a train of pings far apart (1 ms),
 * each echo request reaches B's host NIC alone, so it raises one host NIC interrupt (rx-frames 1)
 * and must reach B's idle guest through at least one interrupt the guest takes. Plain VNET/P
 * raises exactly one virtual interrupt per frame it places in the ring (§5.1.6). With optimistic
 * interrupts every host NIC interrupt is one EVI decision (§4.3.1), an EVI raised is at most one
 * decision, and a premature run needs a raised EVI. The same counts come from the live stream and
 * from a replayed full trace, and agree with a monitor of the other side of each interaction (the
 * events the receiving components get: each taken interrupt runs its handler once; each EVI raised
 * reaches the guest line as a raise with source `evi`; each host NIC interrupt is one arrival for
 * the EVI decision). The ping train's distribution is the `pingRtt` observer's, and no
 * round trip is below two one-way serializations of the frame at the link rate.
 */
import { describe, expect, test } from 'vitest';
import { calibratedCosts } from '../model/calibrated-costs.js';
import { configuration, type BuiltConfiguration } from '../model/configurations.js';
import { ethernetSerializationNs } from '../model/costs.js';
import { runnersFor } from '../model/experiments.js';
import { interruptAccounting, interruptFractions } from '../model/interrupts.js';
import { distribution } from '../model/metrics.js';
import { addPing, pingRtt } from '../model/ping.js';
import { addTtcp } from '../model/ttcp.js';
import { field } from '../model/metrics.js';
import { replay } from '../model/recorder.js';
import { measurePingTrain } from '../model/variability.js';

const PINGS = 25;
const run = (id: string) => {
  const c = configuration(id) as BuiltConfiguration;
  const irq = interruptAccounting('B');
  const train = measurePingTrain(c.build, { mtu: 1500, costs: calibratedCosts, seed: 3, count: PINGS, observers: [irq.onRecord] });
  return { counts: irq.result(), train };
};

describe('interrupt accounting of a ping train', () => {
  test('plain VNET/P: one physical and one virtual interrupt per request, no EVIs', () => {
    const { counts } = run('vnetp-10g');
    expect(counts).toEqual({ physical: PINGS, virtual: PINGS, eviDecided: 0, eviRaised: 0, eviPremature: 0, eviMasked: 0 });
    expect(interruptFractions(counts)).toEqual({ virqPerPirq: 1, eviPrematureFraction: null, eviMaskedFraction: null });
  });

  test('optimistic interrupts: one EVI decision per host NIC interrupt; raised, premature and masked within it', () => {
    for (const id of ['vnetp-10g+oi', 'vnetp+-10g']) {
      const { counts } = run(id);
      expect(counts.physical, id).toBe(PINGS);
      expect(counts.eviDecided, id).toBe(counts.physical);
      expect(counts.virtual, id).toBeGreaterThanOrEqual(PINGS);
      expect(counts.eviRaised + counts.eviMasked, id).toBeGreaterThanOrEqual(counts.eviDecided);
      expect(counts.eviRaised, id).toBeLessThanOrEqual(counts.eviDecided);
      expect(counts.eviPremature, id).toBeLessThanOrEqual(counts.eviRaised);
      const f = interruptFractions(counts);
      for (const x of [f.eviPrematureFraction ?? 0, f.eviMaskedFraction ?? 0]) {
        expect(x).toBeGreaterThanOrEqual(0);
        expect(x).toBeLessThanOrEqual(1);
      }
    }
  });

  test('the counts and the round trips are the same live and from a replayed full trace', () => {
    const c = configuration('vnetp-10g+oi') as BuiltConfiguration;
    const path = c.build({ mtu: 1500, costs: calibratedCosts, seed: 3 });
    addPing(path, { sizeBytes: 64, mtu: 1500, count: 10, intervalNs: 1_000_000 });
    const live = interruptAccounting('B');
    const rtt = pingRtt();
    path.system.recorder.observe(live.onRecord);
    path.system.recorder.observe(rtt.onRecord);
    path.system.run({ maxEvents: 1_000_000 });
    const again = interruptAccounting('B');
    const rttAgain = pingRtt();
    replay(path.system.recorder.records(), again.onRecord, rttAgain.onRecord);
    expect(again.result()).toEqual(live.result());
    expect(rttAgain.result()).toEqual(rtt.result());
    expect(live.result().physical).toBe(10);
  });

  test('the counts agree with the receiving side of each interaction, on a UDP stream and a ping train', () => {
    for (const id of ['vnetp-10g', 'vnetp-10g+oi', 'vnetp-10g+oi+ct']) {
      for (const workload of ['udp', 'ping'] as const) {
        const c = configuration(id) as BuiltConfiguration;
        const mtu = 9000;
        const path = c.build({ mtu, costs: calibratedCosts, seed: 5, system: { recorder: { mode: 'ring', capacity: 16 } } });
        if (workload === 'udp') addTtcp(path, { mtu, linkBitRate: calibratedCosts.link10GbpsBitRate, costs: calibratedCosts, startNs: 100_000 });
        else addPing(path, { sizeBytes: 64, mtu, count: 10, intervalNs: 1_000_000 });
        const irq = interruptAccounting('B');
        const seen = { handlerRuns: 0, driverInterrupts: 0, eviRaises: 0, arrivals: 0 };
        path.system.recorder.observe(irq.onRecord);
        path.system.recorder.observe((r) => {
          if (r.kind !== 'event') return;
          if (r.component === 'B.virq' && r.type === 'handler.run') seen.handlerRuns++;
          if (r.component === 'B.rx' && r.type === 'driver.interrupt') seen.driverInterrupts++;
          if (r.component === 'B.virq' && r.type === 'virq.raise' && field(r, 'source') === 'evi') seen.eviRaises++;
          if (r.component === 'B.oi' && r.type === 'host.arrival') seen.arrivals++;
        });
        if (workload === 'udp') path.system.run({ until: 1_500_000 });
        else path.system.run({ maxEvents: 1_000_000 });
        const n = irq.result();
        const oi = id.includes('+oi');
        const what = `${id} ${workload}`;
        expect(n.physical, what).toBeGreaterThan(0);
        // A run may end between an interrupt and its handler: at most one in flight.
        expect(n.virtual - (oi ? seen.handlerRuns : seen.driverInterrupts), what).toBeGreaterThanOrEqual(0);
        expect(n.virtual - (oi ? seen.handlerRuns : seen.driverInterrupts), what).toBeLessThanOrEqual(1);
        expect(n.eviRaised, what).toBe(seen.eviRaises);
        expect(n.eviDecided, what).toBe(seen.arrivals);
        if (oi) expect(n.eviDecided, what).toBe(n.physical);
      }
    }
  });

  test("the ping train's figures are its round trips' distribution, none below two serializations", () => {
    const { train } = run('native-10g');
    expect(train.samplesNs).toHaveLength(PINGS);
    const d = distribution(train.samplesNs);
    expect(train.result.p50Us * 1000).toBe(d.p50);
    expect(train.result.p99Us * 1000).toBe(d.p99);
    expect(train.result.maxUs * 1000).toBe(d.max);
    // A 64-byte echo is one frame of 14 + 20 + 8 + 64 bytes each way.
    const oneWay = ethernetSerializationNs(14 + 20 + 8 + 64, calibratedCosts.link10GbpsBitRate, calibratedCosts);
    expect(d.min).toBeGreaterThanOrEqual(2 * oneWay);
    expect(d.min).toBeLessThanOrEqual(d.p50);
    expect(d.p50).toBeLessThanOrEqual(d.p99);
    expect(d.p99).toBeLessThanOrEqual(d.max);
  });

  test('the report runners count interrupts only for the VNET/P family, on the receiver of the stream', () => {
    const native = runnersFor('native-1g')!;
    const opts = { mtu: 1500, costs: calibratedCosts, seed: 1, quick: true } as const;
    expect(native.vnetpFamily).toBe(false);
    expect(native.runners.pingTrain!({ ...opts, count: 3 }).interrupts).toBeUndefined();
    const vnetp = runnersFor('vnetp-1g')!;
    expect(vnetp.vnetpFamily).toBe(true);
    const g = vnetp.runners.udpGoodput!(opts);
    // A UDP stream A -> B: B's host NIC interrupts, and B's guest takes interrupts to receive it.
    expect(g.interrupts!.physical).toBeGreaterThan(0);
    expect(g.interrupts!.virtual).toBeGreaterThan(0);
    expect(() => interruptAccounting('C' as 'A')).toThrow(/'A' or 'B'/);
  });
});
