/** Bad input to the InfiniBand model's exported functions is refused with an error naming the field and what is allowed. */
import { describe, expect, test } from 'vitest';
import { defaultCosts } from '../model/costs.js';
import { IbFabric, ibWireBytes } from '../model/ib-fabric.js';
import { nativeSdpRunners, nativeUverbsRunners, runSdpTtcp } from '../model/ib-verbs-paths.js';
import { System } from '../model/wiring.js';

const run = { mtu: 9000, costs: defaultCosts, seed: 1, quick: true };

describe('InfiniBand model input checks', () => {
  test('fabric options', () => {
    expect(() => new IbFabric(new System(), { hosts: ['A'], costs: defaultCosts })).toThrow(/hosts must list at least 2/);
    expect(() => new IbFabric(new System(), { hosts: ['A', 'A'], costs: defaultCosts })).toThrow(/hosts must be distinct/);
    expect(() => new IbFabric(new System(), { hosts: ['A', 'B'], costs: defaultCosts, rcMtuBytes: 3000 })).toThrow(/rcMtuBytes must be 256, 512, 1024, 2048 or 4096, got 3000/);
    expect(() => new IbFabric(new System(), { hosts: ['A', 'B'], costs: defaultCosts, corruptionRate: 1 })).toThrow(/corruptionRate must be in \[0, 1\)/);
    expect(() => ibWireBytes('send', -1)).toThrow(/payloadBytes must be a non-negative integer/);
  });

  test('verbs and faults', () => {
    const sys = new System();
    const f = new IbFabric(sys, { hosts: ['A', 'B'], costs: defaultCosts });
    const c = f.connectRc('A', 'B');
    expect(() => f.connectRc('A', 'A')).toThrow(/different hosts/);
    expect(() => f.connectRc('A', 'B', { retryCount: 8 })).toThrow(/retryCount must be an integer 0..7, got 8/);
    expect(() => f.postSend(c.a, { id: -1, bytes: 1 })).toThrow(/wr.id must be a non-negative integer/);
    expect(() => f.postSend(c.a, { id: 1, bytes: 1.5 })).toThrow(/wr.bytes must be an integer/);
    expect(() => f.postSend(c.a, { id: 1, bytes: 1, op: 'atomic' as 'send' })).toThrow(/op must be send, rdma-write or rdma-read/);
    f.postSend(c.a, { id: 2, bytes: 1 });
    expect(() => f.postSend(c.a, { id: 2, bytes: 1 })).toThrow(/work request id 2 is already in use/);
    expect(() => f.fault({ kind: 'port-down', host: 'C', atNs: 0 })).toThrow(/host must be one of A, B, got C/);
    expect(() => f.fault({ kind: 'flood' as 'port-down', host: 'A', atNs: 0 })).toThrow(/kind must be port-down or device-removal/);
    expect(() => f.fault({ kind: 'port-down', host: 'A', atNs: -5 })).toThrow(/atNs must be a non-negative integer/);
  });

  test('runners', () => {
    expect(() => nativeUverbsRunners.mpi!({ ...run, mode: 'pingpong', sizes: [] })).toThrow(/sizes must be a non-empty array/);
    expect(() => nativeUverbsRunners.mpi!({ ...run, mode: 'pingpong', sizes: [-1] })).toThrow(/each size must be an integer 0\.\./);
    expect(() => nativeUverbsRunners.mpi!({ ...run, mode: 'bcast' as 'pingpong', sizes: [8] })).toThrow(/mode must be pingpong or sendrecv/);
    expect(() => nativeUverbsRunners.hpcc!({ ...run, hosts: 7 })).toThrow(/hosts must be an integer 2..6/);
    expect(() => nativeSdpRunners.tcpThroughput!({ ...run, streams: 3 as 1 })).toThrow(/streams must be 1 or 2, got 3/);
    expect(() => nativeSdpRunners.tcpThroughput!({ ...run, seed: 0.5, streams: 1 })).toThrow(/seed must be an integer/);
    expect(() => runSdpTtcp(defaultCosts, { streams: 1, durationNs: 10 })).toThrow(/durationNs must be an integer >= 100000/);
    expect(() => runSdpTtcp(defaultCosts, { streams: 1, writeBytes: 0 })).toThrow(/writeBytes must be an integer 1\.\./);
  });
});
