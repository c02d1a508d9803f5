/** VNET+VTOE model entry points refuse bad input with an error naming the field and what is allowed. */
import { describe, expect, test } from 'vitest';
import { calibratedCosts } from '../model/calibrated-costs.js';
import { buildVtoePath, scriptedPlan, type Host, type VtoePathOptions } from '../model/vtoe-path.js';
import { vtoeHpcc, vtoeMpi, vtoeRunners, vtoeTcpThroughput } from '../model/vtoe-runs.js';

const ok = { listen: true, resolve: 'ok', sendsA: 1, sendsB: 0 } as const;
const build = (o: Partial<VtoePathOptions>) => () => buildVtoePath({ connections: [ok], ...o } as VtoePathOptions);

describe('VNET+VTOE: bad input is refused, naming the field', () => {
  test('buildVtoePath', () => {
    expect(build({ recvBufferBytes: 0 })).toThrow(/recvBufferBytes must be an integer 1\.\./);
    expect(build({ recvBufferBytes: 2 ** 21 })).toThrow(/recvBufferBytes/);
    expect(build({ messageBytes: 5000 })).toThrow(/messageBytes must be an integer 1\.\.4096/);
    expect(build({ timed: { costs: calibratedCosts, variant: 'typo' as never } })).toThrow(/timed\.variant must be 'copies' or 'guest-acks'/);
    expect(build({ timed: { costs: calibratedCosts, sendWindow: 0 } })).toThrow(/timed\.sendWindow must be an integer 1\.\.64/);
    expect(build({ timed: { costs: calibratedCosts, recvAhead: 1.5 } })).toThrow(/timed\.recvAhead/);
    expect(build({ timed: { costs: calibratedCosts, guestCores: 3 as never } })).toThrow(/timed\.guestCores must be 1 or 2/);
    const p = buildVtoePath({ connections: [ok], timed: { costs: calibratedCosts } });
    expect(() => p.cpu.busyNs('C' as Host)).toThrow(/host must be 'A' or 'B'/);
    expect(() => p.cpu.busyNs('A', 'idle' as never)).toThrow(/kind must be/);
  });

  test('scriptedPlan', () => {
    expect(() => scriptedPlan({ A: [{ op: 'send', bytes: 10 }], B: [] }, 4096)).toThrow(/B receives 0 messages but A sends 1/);
    expect(() => scriptedPlan({ A: [{ op: 'send', bytes: 0 }], B: [{ op: 'recv', bytes: 0 }] }, 4096)).toThrow(/bytes must be a positive integer/);
  });

  test('runners', () => {
    const base = { costs: calibratedCosts };
    expect(() => vtoeTcpThroughput({ ...base, streams: 3 as never })).toThrow(/streams must be 1 or 2/);
    expect(() => vtoeTcpThroughput({ ...base, streams: 1, writes: 2 })).toThrow(/writes must be an integer 8\.\./);
    expect(() => vtoeTcpThroughput({ costs: {} as never, streams: 1 })).toThrow(/costs must be a complete cost table/);
    expect(() => vtoeTcpThroughput({ ...base, streams: 1, seed: -1 })).toThrow(/seed must be a non-negative integer/);
    expect(() => vtoeTcpThroughput({ ...base, streams: 1, variant: 'x' as never })).toThrow(/variant must be/);
    expect(() => vtoeMpi({ ...base, mode: 'alltoall' as never, sizes: [8] })).toThrow(/mode must be 'pingpong' or 'sendrecv'/);
    expect(() => vtoeMpi({ ...base, mode: 'pingpong', sizes: [] })).toThrow(/sizes must be a non-empty array/);
    expect(() => vtoeMpi({ ...base, mode: 'pingpong', sizes: [-1] })).toThrow(/sizes must be integers/);
    expect(() => vtoeHpcc({ ...base, hosts: 4 })).toThrow(/hosts must be 2/);
    expect(() => vtoeRunners.tcpThroughput!({ ...base, mtu: 10, seed: 1, quick: true, streams: 1 })).toThrow(/mtu must be an integer 68\.\.65535/);
  });
});
