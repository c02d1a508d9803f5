/**
 * Generic metrics, each an observer of the recorder's stream (ARCHITECTURE.md "Model": figures
 * are computed by observers of the same event stream the trace records). Attach one with
 * `recorder.observe(metric.onRecord)`, or feed it a stored trace with `replay`.
 */
import type { Observer, Summary, TraceRecord } from './recorder.js';

/** Which records a metric looks at: fields that must be equal, or a predicate. */
export type Match = { readonly component?: string; readonly kind?: TraceRecord['kind']; readonly type?: string } | ((r: TraceRecord) => boolean);

export function matches(m: Match, r: TraceRecord): boolean {
  if (typeof m === 'function') return m(r);
  return (m.component === undefined || m.component === r.component) && (m.kind === undefined || m.kind === r.kind) && (m.type === undefined || m.type === r.type);
}

export interface Metric<R> {
  readonly onRecord: Observer;
  result(): R;
}

/** A field of a record's payload by path (`field(r, 'frame', 'id')`), or undefined. */
export function field(r: TraceRecord, ...path: string[]): Summary | undefined {
  let v: Summary | undefined = r.payload;
  for (const k of path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as { readonly [k: string]: Summary })[k];
  }
  return v;
}

// ---- Counts ---------------------------------------------------------------------------------------

/** `component kind type`, the default counting key. */
export const byComponentKindType = (r: TraceRecord): string => `${r.component} ${r.kind} ${r.type}`;

/**
 * Counts matching records by key (default: component, kind and type). The result lists keys in
 * the order first seen, which is deterministic for a deterministic run.
 */
export function counts(opts: { readonly match?: Match; readonly key?: (r: TraceRecord) => string } = {}): Metric<Record<string, number>> {
  const key = opts.key ?? byComponentKindType;
  const n = new Map<string, number>();
  return {
    onRecord: (r) => {
      if (opts.match && !matches(opts.match, r)) return;
      const k = key(r);
      n.set(k, (n.get(k) ?? 0) + 1);
    },
    result: () => Object.fromEntries(n),
  };
}

/** Sums a number per matching record (for example frames in a batch). */
export function sum(opts: { readonly match: Match; readonly value: (r: TraceRecord) => number }): Metric<number> {
  let total = 0;
  return {
    onRecord: (r) => {
      if (matches(opts.match, r)) total += opts.value(r);
    },
    result: () => total,
  };
}

// ---- Percentiles ----------------------------------------------------------------------------------

export interface Distribution {
  readonly count: number;
  readonly min: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/**
 * The `p`-th percentile (0 < p <= 100) of values sorted ascending, by the nearest-rank method:
 * the smallest stored value with at least p% of the values at or below it. Exact (no
 * interpolation, no sketch); `p = 0` gives the minimum. NaN for no values.
 */
export function percentile(sortedAsc: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new Error(`percentile p = ${String(p)} is not allowed; expected 0 to 100`);
  const n = sortedAsc.length;
  if (n === 0) return Number.NaN;
  if (p === 0) return sortedAsc[0];
  return sortedAsc[Math.ceil((p / 100) * n) - 1];
}

/** Exact summary of all the values given. */
export function distribution(values: readonly number[]): Distribution {
  const s = [...values].sort((a, b) => a - b);
  let total = 0;
  for (const v of s) total += v;
  return {
    count: s.length,
    min: s.length ? s[0] : Number.NaN,
    p50: percentile(s, 50),
    p99: percentile(s, 99),
    max: s.length ? s[s.length - 1] : Number.NaN,
    mean: s.length ? total / s.length : Number.NaN,
  };
}

// ---- Latency --------------------------------------------------------------------------------------

export interface LatencyResult {
  /** One latency (end time - start time, ns) per matched pair, in the order the ends came. */
  readonly samples: readonly number[];
  readonly distribution: Distribution;
  /** Starts still waiting for their end. */
  readonly open: number;
  /** Ends whose key had no open start. */
  readonly unmatchedEnds: number;
  /** Starts whose key was already open (the earlier start is kept). */
  readonly duplicateStarts: number;
}

/**
 * Latency between a start record and the end record with the same key (for example a frame's id
 * from `tx.frame` at the sender to `rx.frame` at the receiver). A record may be both a start and
 * an end of different pairs only if the two matches say so; the end is checked first.
 */
export function latency(opts: {
  readonly start: Match;
  readonly end: Match;
  /** The pairing key; records for which it is undefined are skipped. */
  readonly key: (r: TraceRecord) => string | number | undefined;
}): Metric<LatencyResult> {
  const openAt = new Map<string | number, number>();
  const samples: number[] = [];
  let unmatchedEnds = 0;
  let duplicateStarts = 0;
  return {
    onRecord: (r) => {
      if (matches(opts.end, r)) {
        const k = opts.key(r);
        if (k !== undefined) {
          const t0 = openAt.get(k);
          if (t0 === undefined) unmatchedEnds++;
          else {
            openAt.delete(k);
            samples.push(r.t - t0);
          }
        }
      }
      if (matches(opts.start, r)) {
        const k = opts.key(r);
        if (k === undefined) return;
        if (openAt.has(k)) duplicateStarts++;
        else openAt.set(k, r.t);
      }
    },
    result: () => ({ samples: [...samples], distribution: distribution(samples), open: openAt.size, unmatchedEnds, duplicateStarts }),
  };
}

// ---- Throughput -----------------------------------------------------------------------------------

export interface ThroughputResult {
  readonly bytes: number;
  readonly records: number;
  readonly firstNs: number | undefined;
  readonly lastNs: number | undefined;
  /** bytes * 8 over [startNs, lastNs] in bit/s (startNs defaults to the first record); NaN if the span is 0. */
  readonly bitsPerSecond: number;
  /** With `windowNs`: bytes per window [k * windowNs, (k + 1) * windowNs), from the first window with data to the last. */
  readonly windows: readonly { readonly startNs: number; readonly bytes: number }[];
}

/**
 * Bytes carried by matching records over time (goodput when matched at the receiving
 * application). Give `startNs` as the time the workload began: measuring from the first arrival
 * would leave out the time to the first byte.
 */
export function throughput(opts: {
  readonly match: Match;
  readonly bytes: (r: TraceRecord) => number;
  readonly startNs?: number;
  readonly windowNs?: number;
}): Metric<ThroughputResult> {
  if (opts.windowNs !== undefined && (!Number.isSafeInteger(opts.windowNs) || opts.windowNs <= 0)) {
    throw new Error(`throughput windowNs = ${String(opts.windowNs)} is not allowed; expected a positive integer`);
  }
  let bytes = 0;
  let n = 0;
  let first: number | undefined;
  let last: number | undefined;
  const perWindow = new Map<number, number>();
  return {
    onRecord: (r) => {
      if (!matches(opts.match, r)) return;
      const b = opts.bytes(r);
      bytes += b;
      n++;
      first ??= r.t;
      last = r.t;
      if (opts.windowNs !== undefined) {
        const w = Math.floor(r.t / opts.windowNs);
        perWindow.set(w, (perWindow.get(w) ?? 0) + b);
      }
    },
    result: () => {
      const from = opts.startNs ?? first;
      const span = last === undefined || from === undefined ? 0 : last - from;
      const windows: { startNs: number; bytes: number }[] = [];
      if (opts.windowNs !== undefined && perWindow.size > 0) {
        let lo = Number.POSITIVE_INFINITY;
        let hi = Number.NEGATIVE_INFINITY;
        for (const k of perWindow.keys()) {
          lo = Math.min(lo, k);
          hi = Math.max(hi, k);
        }
        for (let k = lo; k <= hi; k++) windows.push({ startNs: k * opts.windowNs, bytes: perWindow.get(k) ?? 0 });
      }
      return {
        bytes,
        records: n,
        firstNs: first,
        lastNs: last,
        bitsPerSecond: span > 0 ? (bytes * 8 * 1e9) / span : Number.NaN,
        windows,
      };
    },
  };
}
