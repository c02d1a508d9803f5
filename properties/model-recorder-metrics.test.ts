/**
 * The recorder and the generic metrics: a ring keeps exactly the latest records while observers
 * see all of them; percentiles are exact on the stored samples; latency, counts and throughput
 * are computed from the stream alone, so replaying a stored trace gives the live figures.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { counts, distribution, field, latency, percentile, sum, throughput } from '../model/metrics.js';
import { Recorder, replay, summarize, type TraceRecord } from '../model/recorder.js';
import { numRuns } from './harness.js';

/** A random stream of records: time steps, component, kind and a payload with an id and bytes. */
const streamArb = fc.array(
  fc.record({
    dt: fc.nat({ max: 100 }),
    component: fc.constantFrom('a', 'b'),
    kind: fc.constantFrom('event' as const, 'effect' as const),
    type: fc.constantFrom('send', 'recv', 'other'),
    id: fc.nat({ max: 20 }),
    bytes: fc.nat({ max: 9000 }),
  }),
  { maxLength: 80 },
);

type Stream = typeof streamArb extends fc.Arbitrary<infer S> ? S : never;

function write(rec: Recorder, stream: Stream) {
  let t = 0;
  for (const s of stream) {
    t += s.dt;
    rec.record(t, s.component, s.kind, { type: s.type, frame: { id: s.id, bytes: s.bytes } });
  }
}

describe('model recorder', () => {
  test('a ring keeps exactly the latest records of the full stream; observers see every record', () => {
    fc.assert(
      fc.property(streamArb, fc.integer({ min: 1, max: 30 }), (stream, capacity) => {
        const full = new Recorder({ mode: 'full' });
        const ring = new Recorder({ mode: 'ring', capacity });
        const seen: TraceRecord[] = [];
        ring.observe((r) => seen.push(r));
        write(full, stream);
        write(ring, stream);
        const all = full.records();
        expect(all.map((r) => r.i)).toEqual(all.map((_, k) => k));
        expect(ring.records()).toEqual(all.slice(Math.max(0, all.length - capacity)));
        expect(seen).toEqual(all);
        expect(ring.total).toBe(all.length);
        expect(ring.evicted).toBe(Math.max(0, all.length - capacity));
        expect(ring.recent(3)).toEqual(all.slice(Math.max(0, all.length - Math.min(3, capacity))));
      }),
      { numRuns: numRuns(200) },
    );
  });

  test('times may not go backwards; capacity must be positive', () => {
    const r = new Recorder();
    r.record(10, 'a', 'event', { type: 'x' });
    expect(() => r.record(9, 'a', 'event', { type: 'x' })).toThrow(/record time = 9 .*\(10 ns\)/);
    expect(() => new Recorder({ mode: 'ring', capacity: 0 })).toThrow(/capacity = 0/);
  });

  test('payload summaries are plain JSON: bytes become a length, undefined fields vanish', () => {
    expect(summarize({ id: 1, data: new Uint8Array(1500), gone: undefined, n: Number.NaN, big: 5n, xs: [1, { y: 2 }] })).toEqual({
      id: 1,
      data: '<1500 bytes>',
      n: 'NaN',
      big: '5n',
      xs: [1, { y: 2 }],
    });
    const r = new Recorder();
    const rec = r.record(0, 'c', 'effect', { type: 'tx.frame', frame: { id: 3, bytes: 60, data: new Uint8Array(60) } });
    expect(rec).toEqual({ i: 0, t: 0, component: 'c', kind: 'effect', type: 'tx.frame', payload: { frame: { id: 3, bytes: 60, data: '<60 bytes>' } } });
    expect(JSON.parse(r.toJSON())).toEqual([rec]);
  });
});

describe('model metrics', () => {
  test('percentiles are exact nearest-rank values of the stored samples', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 1, maxLength: 200 }), fc.integer({ min: 1, max: 100 }), (xs, p) => {
        const sorted = [...xs].sort((a, b) => a - b);
        const v = percentile(sorted, p);
        // The defining property: v is a sample, at least p% of samples are <= v, and fewer than p% are < v.
        expect(xs).toContain(v);
        expect(xs.filter((x) => x <= v).length).toBeGreaterThanOrEqual((p / 100) * xs.length);
        expect(xs.filter((x) => x < v).length).toBeLessThan((p / 100) * xs.length);
        const d = distribution(xs);
        expect([d.min, d.max, d.count]).toEqual([sorted[0], sorted[sorted.length - 1], xs.length]);
        expect(d.p50).toBe(percentile(sorted, 50));
      }),
      { numRuns: numRuns(300) },
    );
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 99)).toBe(4);
    expect(percentile([], 50)).toBeNaN();
  });

  test('latency pairs a start and an end by key', () => {
    const r = new Recorder();
    const m = latency({ start: { type: 'send' }, end: { type: 'recv' }, key: (x) => field(x, 'id') as number });
    r.observe(m.onRecord);
    r.record(0, 'a', 'effect', { type: 'send', id: 1 });
    r.record(5, 'a', 'effect', { type: 'send', id: 2 });
    r.record(5, 'a', 'effect', { type: 'send', id: 2 });
    r.record(12, 'b', 'effect', { type: 'recv', id: 2 });
    r.record(20, 'b', 'effect', { type: 'recv', id: 1 });
    r.record(21, 'b', 'effect', { type: 'recv', id: 9 });
    r.record(22, 'a', 'effect', { type: 'send', id: 3 });
    const res = m.result();
    expect(res.samples).toEqual([7, 20]);
    expect([res.open, res.unmatchedEnds, res.duplicateStarts]).toEqual([1, 1, 1]);
    expect(res.distribution.max).toBe(20);
  });

  test('throughput: bytes over [start, last] and per window', () => {
    const r = new Recorder();
    const m = throughput({ match: { type: 'recv' }, bytes: (x) => field(x, 'bytes') as number, startNs: 0, windowNs: 1000 });
    r.observe(m.onRecord);
    r.record(500, 'b', 'effect', { type: 'recv', bytes: 1000 });
    r.record(2500, 'b', 'effect', { type: 'recv', bytes: 1500 });
    r.record(2600, 'b', 'effect', { type: 'other', bytes: 99 });
    r.record(4000, 'b', 'effect', { type: 'recv', bytes: 2500 });
    const res = m.result();
    expect([res.bytes, res.records, res.firstNs, res.lastNs]).toEqual([5000, 3, 500, 4000]);
    expect(res.bitsPerSecond).toBe((5000 * 8 * 1e9) / 4000);
    expect(res.windows).toEqual([
      { startNs: 0, bytes: 1000 },
      { startNs: 1000, bytes: 0 },
      { startNs: 2000, bytes: 1500 },
      { startNs: 3000, bytes: 0 },
      { startNs: 4000, bytes: 2500 },
    ]);
  });

  test('metrics replayed from a stored full trace equal the live ones', () => {
    fc.assert(
      fc.property(streamArb, (stream) => {
        const make = () => ({
          c: counts(),
          s: sum({ match: { kind: 'effect' }, value: (x) => field(x, 'frame', 'bytes') as number }),
          l: latency({ start: { type: 'send' }, end: { type: 'recv' }, key: (x) => field(x, 'frame', 'id') as number }),
          t: throughput({ match: { component: 'b', type: 'recv' }, bytes: (x) => field(x, 'frame', 'bytes') as number, windowNs: 50 }),
        });
        const live = make();
        const rec = new Recorder();
        for (const m of Object.values(live)) rec.observe(m.onRecord);
        write(rec, stream);
        const again = make();
        replay(JSON.parse(rec.toJSON()) as TraceRecord[], ...Object.values(again).map((m) => m.onRecord));
        for (const k of Object.keys(live) as (keyof typeof live)[]) expect(again[k].result()).toEqual(live[k].result());
        expect(Object.values(live.c.result()).reduce((a, b) => a + b, 0)).toBe(stream.length);
      }),
      { numRuns: numRuns(100) },
    );
  });
});
