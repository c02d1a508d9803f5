/**
 * VNET+VTOE with time and costs: the overlay never copies data (dissertation §5.3.1, "Transmission
 * with zero overlay copy" / "Reception with zero overlay copy"; §4.4): guest buffers are posted on
 * the shadow RC queue pair as they are and the HCA reads and writes guest memory, so the VMM copies
 * 0 bytes per byte carried -- no `copy` effect from any connection agent, no VMM copy work -- over
 * arbitrary connection workloads with faults and over ttcp streams. The guest's own copy between
 * the application's buffer and the socket's (which §5.3.1 allows) is not an overlay copy.
 * Broken variant `copies` (the VMM copies each buffer through a host buffer) must fail.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { calibratedCosts } from '../model/calibrated-costs.js';
import { buildVtoePath, HOSTS, type VtoeVariant } from '../model/vtoe-path.js';
import { vtoeTcpThroughput } from '../model/vtoe-runs.js';
import { systemRuns } from './harness.js';
import { workloadArb, type Workload } from './vtoe-path-checks.js';

/** Overlay copies of one run, read two ways: the agents' `copy` effects in the recorded stream, and the VMM's copy work. */
function overlayCopies(w: Workload, variant?: VtoeVariant): { effects: number; bytes: number; delivered: number } {
  const path = buildVtoePath({ connections: w.connections, fault: w.fault, seed: w.seed, timed: { costs: calibratedCosts, variant }, system: { recorder: { mode: 'ring', capacity: 20 }, checkInvariants: false } });
  let effects = 0;
  path.system.recorder.observe((r) => {
    if (r.kind === 'effect' && r.type === 'copy' && r.component.endsWith('.ca')) effects++;
  });
  path.system.run({ maxEvents: 200_000 });
  return {
    effects,
    bytes: HOSTS.reduce((n, h) => n + path.log.work[h].overlayCopyBytes, 0),
    delivered: HOSTS.reduce((n, h) => n + path.log.work[h].deliveredBytes, 0),
  };
}

const noCopy = (variant?: VtoeVariant) =>
  fc.property(workloadArb(), (w) => {
    const c = overlayCopies(w, variant);
    if (c.effects !== 0 || c.bytes !== 0) throw new Error(`the overlay copied ${c.bytes} bytes (${c.effects} copy effects) while carrying ${c.delivered}`);
  });

describe('VNET+VTOE: zero overlay copy on the data path', () => {
  test('no overlay copy over arbitrary workloads and faults', () => {
    fc.assert(noCopy(), { numRuns: systemRuns(60) });
  });

  test('ttcp uni- and bi-stream: 0 overlay-copied bytes per byte carried, while data does flow', () => {
    for (const streams of [1, 2] as const) {
      const r = vtoeTcpThroughput({ costs: calibratedCosts, streams, quick: true, writes: 24 });
      expect(r.bytes).toBeGreaterThan(0);
      expect(r.work.A.overlayCopyBytes + r.work.B.overlayCopyBytes).toBe(0);
      // The guests' own socket-buffer copies do happen (they are not the overlay's).
      expect(r.work.A.guestCopyBytes + r.work.B.guestCopyBytes).toBeGreaterThan(0);
    }
  });

  test('fails on the broken variant: the VMM copies every buffer (copies)', () => {
    expect(fc.check(noCopy('copies'), { numRuns: 100, seed: 1 }).failed).toBe(true);
    const r = vtoeTcpThroughput({ costs: calibratedCosts, streams: 1, quick: true, writes: 24, variant: 'copies' });
    expect(r.work.A.overlayCopyBytes + r.work.B.overlayCopyBytes).toBeGreaterThan(0);
  });
});
