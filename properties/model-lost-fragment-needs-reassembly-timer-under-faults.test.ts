/**
 * A lost fragment must end in a counted `reassembly-timeout` drop of its frame: that needs the
 * bridge's reassembly timer to fire on the path (RFC 791 §3.2; the path schedules a bridge `tick`
 * for each fragment it hands up). Here the bridge module is replaced by one whose timer never
 * finds a reassembly overdue, so a datagram missing a fragment stays in reassembly for ever. On
 * every overlay configuration the bridge's own invariant (`reassembly-within-timeout`, checked by
 * the System after every delivery) stops the run; with the machine invariants off, the system
 * invariant `conservation` reports the frame as neither delivered nor dropped at the end. (With the real bridge the same run passes with one counted
 * `bridge:reassembly-timeout`, as model-frames-accounted-under-faults.test.ts shows.)
 */
import { describe, expect, test, vi } from 'vitest';
import { builtConfigurations } from '../model/configurations.js';
import { WireFaults } from '../model/faults.js';
import { ModelRunError } from '../model/wiring.js';
import { runUnderFaults } from './model-under-faults-harness.js';

vi.mock('../machines/bridge.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../machines/bridge.js')>();
  // The broken bridge: time passing never makes a reassembly overdue.
  return { ...real, bridgeMachine: real.bridgeMachine.provide({ guards: { reassemblyOverdue: () => false, allReassembliesOverdue: () => false } }) };
});

const overlays = builtConfigurations().filter((c) => c.kind === 'vnetp' || c.kind === 'vnetu');

const run = (config: (typeof overlays)[number], machineInvariants: boolean): ModelRunError | undefined => {
  try {
    runUnderFaults({
      config,
      mtu: Math.min(...config.mtus),
      faults: WireFaults.scheduled([{ kind: 'drop' }]),
      workloads: [{ kind: 'burst', from: 'A', datagramBytes: [4000], startNs: 100_000 }],
      machineInvariants,
    });
  } catch (e) {
    if (e instanceof ModelRunError) return e;
    throw e;
  }
  return undefined;
};

describe.each(overlays.map((c) => [c.id, c] as const))('%s', (_id, config) => {
  test("the bridge's own invariant catches it first (reassembly-within-timeout)", () => {
    expect(run(config, true)?.invariant).toBe('reassembly-within-timeout');
  });

  test('without the machine invariants, conservation reports the frame as neither delivered nor dropped', () => {
    const e = run(config, false);
    expect(e?.invariant).toBe('conservation');
    expect(e?.message.split('\n')[0]).toMatch(/neither delivered nor dropped.*still in reassembly/);
  });
});
