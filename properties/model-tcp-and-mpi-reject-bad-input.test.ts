/**
 * The TCP, IMB and HPCC workloads refuse bad input with an error naming the field and the allowed
 * range, before running anything.
 */
import { describe, expect, test } from 'vitest';
import { calibratedCosts } from '../model/calibrated-costs.js';
import { configuration, type BuiltConfiguration } from '../model/configurations.js';
import { hostsBuild, measureHpcc } from '../model/hpcc.js';
import { measureImb } from '../model/mpi.js';
import { measureTcpThroughput } from '../model/tcp.js';

const c = configuration('native-10g') as BuiltConfiguration;
const tcp = (o: Record<string, unknown>) => () =>
  measureTcpThroughput(c.build, { mtu: 1500, linkBitRate: 1e10, costs: calibratedCosts, streams: 1, durationNs: 200_000, warmupNs: 0, ...o } as Parameters<typeof measureTcpThroughput>[1]);
const imb = (o: Record<string, unknown>) => () => measureImb(c.build, { mode: 'pingpong', sizes: [0], mtu: 1500, costs: calibratedCosts, ...o } as Parameters<typeof measureImb>[1]);

describe('bad input is refused with the field and its range', () => {
  test('TCP throughput', () => {
    expect(tcp({ streams: 3 })).toThrow(/streams must be 1 or 2/);
    expect(tcp({ mtu: 100 })).toThrow(/mtu must be an integer from 576 to 65535/);
    expect(tcp({ durationNs: 5 })).toThrow(/durationNs must be an integer from 100000/);
    expect(tcp({ warmupNs: -1 })).toThrow(/warmupNs must be an integer from 0/);
    expect(tcp({ sndbufBytes: 10 })).toThrow(/sndbufBytes must be an integer from 1448/);
    expect(tcp({ rcvbufBytes: 10 })).toThrow(/rcvbufBytes must be an integer from 2920/);
    expect(tcp({ writeBytes: 0 })).toThrow(/writeBytes must be an integer from 1/);
    expect(tcp({ linkBitRate: 0 })).toThrow(/linkBitRate must be positive/);
  });

  test('IMB', () => {
    expect(imb({ mode: 'alltoall' })).toThrow(/mode must be 'pingpong' or 'sendrecv'/);
    expect(imb({ sizes: [] })).toThrow(/sizes must be a non-empty list/);
    expect(imb({ sizes: [-1] })).toThrow(/sizes must be integers from 0 to 4194304/);
    expect(imb({ repetitions: () => 0 })).toThrow(/repetitions must be positive integers/);
    expect(imb({ warmup: -1 })).toThrow(/warmup must be a non-negative integer/);
  });

  test('HPCC', () => {
    expect(() => measureHpcc(hostsBuild(c), { hosts: 7, mtu: 9000, costs: calibratedCosts })).toThrow(/hosts must be an integer from 2 to 6/);
    expect(() => measureHpcc(hostsBuild(c), { hosts: 2, mtu: 9000, costs: calibratedCosts, plan: { latencyReps: 0, bandwidthReps: 1, warmup: 0, pairs: 'first' } })).toThrow(/latencyReps must be a positive integer/);
  });
});
