/**
 * A two-host harness for the IPoIB device alone (model/ipoib.ts): no stack, no TCP. Host A's
 * sender keeps `window` IPv4 packets of `ipBytes` each in the device (one more on each
 * `tx.complete`); host B counts the IP bytes its device hands up. Used by the model-ipoib-*
 * properties to bound the device by its link, independently of the workloads.
 */
import { encodeEthernet, encodeIpv4, ETHERTYPE_IPV4, parseIpv4Address, parseMac } from '../machines/packet.js';
import { checkCosts, costParams, type Costs } from '../model/costs.js';
import { ibCalibratedCosts, ibCalibrationRecord, ibFitBase, ibStageParameters } from '../model/ib-calibration.js';
import { ipoibDevice, type IbHostName, type IpoibDeviceOptions } from '../model/ipoib.js';
import { System } from '../model/wiring.js';

const MAC: Record<'A' | 'B', string> = { A: '02:00:00:00:00:01', B: '02:00:00:00:00:02' };

export interface DeviceRun {
  /** IP bytes B received after its first packet, over the time from its first to its last, bit/s. */
  readonly bitsPerSecond: number;
  readonly packets: number;
  /** Every packet B got was byte-identical to the one A sent. */
  readonly intact: boolean;
}

export function runDevice(o: {
  readonly costs: Costs;
  readonly ipBytes: number;
  readonly window: number;
  readonly durationNs: number;
  readonly broken?: IpoibDeviceOptions['broken'];
}): DeviceRun {
  const sys = new System({ seed: 1, recorder: { mode: 'ring', capacity: 16 } });
  const dev = ipoibDevice({ costs: o.costs, broken: o.broken });
  const owner = (mac: string): IbHostName | undefined => (mac === MAC.A ? 'A' : mac === MAC.B ? 'B' : undefined);
  dev(sys, 'A', ['A', 'B'], owner);
  dev(sys, 'B', ['A', 'B'], owner);
  const sent = new Map<number, Uint8Array>();
  let id = 0;
  const frame = (n: number) => {
    const payload = new Uint8Array(o.ipBytes - 20);
    for (let i = 0; i < payload.length; i++) payload[i] = (n + i) & 0xff;
    const ip = encodeIpv4({ src: parseIpv4Address('10.0.0.1')!, dst: parseIpv4Address('10.0.0.2')!, protocol: 17, id: n & 0xffff, ttl: 64, dontFragment: true, moreFragments: false, fragmentOffset: 0 }, payload);
    const data = encodeEthernet({ dst: parseMac(MAC.B)!, src: parseMac(MAC.A)!, etherType: ETHERTYPE_IPV4 }, ip);
    sent.set(n, data);
    return { id: n, bytes: data.length, data };
  };
  sys.addComponent('A.src', (e, ctx) => {
    const n = e.type === 'start' ? o.window : 1;
    for (let i = 0; i < n; i++) {
      const f = frame(++id);
      ctx.schedule(0, 'A.nic', (now: number) => ({ type: 'tx', now, frame: f }));
    }
  });
  sys.route('A.nic', 'tx.complete', (_e, ctx) => ctx.schedule(0, 'A.src', { type: 'more' }));
  let first = -1;
  let last = 0;
  let bytes = 0;
  let packets = 0;
  let intact = true;
  let expect = 1;
  sys.route('B.nic', 'host.rx', (e: { type: 'host.rx'; frame: { id: number; data?: Uint8Array } }, ctx) => {
    const want = sent.get(expect++);
    const got = e.frame.data!;
    if (!want || want.length !== got.length || want.some((b, i) => b !== got[i])) intact = false;
    packets++;
    if (first < 0) first = ctx.now;
    else bytes += got.length - 14;
    last = ctx.now;
  });
  sys.scheduleAt(0, 'A.src', { type: 'start' });
  sys.run({ until: o.durationNs });
  return { bitsPerSecond: last > first ? (bytes * 8e9) / (last - first) : 0, packets, intact };
}

/**
 * The InfiniBand-calibrated costs (Ethernet fit, then the stored InfiniBand fit) with the IPoIB
 * driver's costs scaled by `k` (0: a free driver).
 */
export function ipoibCostsScaled(k: number): Costs {
  const c = ibCalibratedCosts;
  const base: Record<string, number> = { ...ibFitBase(c), ...(ibCalibrationRecord?.values ?? {}) };
  for (const n of ibStageParameters.ipoib) base[n] = costParams[n].integer ? Math.round(c[n] * k) : c[n] * k;
  return checkCosts(base);
}
