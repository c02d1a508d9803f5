/**
 * The run recorder: one stream of records, every event delivered to a component and every effect
 * a component emitted, in the order they happened.
 *
 * The recorder keeps the stream in full or as a bounded ring of the latest records, and hands every
 * record to its observers whatever it keeps. Metrics are observers of this stream
 * (`model/metrics.ts`), never counters scattered through the model (ARCHITECTURE.md "Model"), so a
 * full trace replayed through the same observers (`replay`) gives the same figures as the live run.
 *
 * Payloads are stored as summaries: plain JSON data (numbers, strings, booleans, arrays, objects),
 * with byte arrays reduced to their length. A summary is a pure function of the payload, so two
 * runs that behave alike record byte-identical JSON.
 */

export type RecordKind = 'event' | 'effect';

/** A JSON value. */
export type Summary = null | boolean | number | string | readonly Summary[] | { readonly [k: string]: Summary };

export interface TraceRecord {
  /** Position in the whole stream, from 0 (also counts records a ring has evicted). */
  readonly i: number;
  /** Virtual time (ns). */
  readonly t: number;
  /** For an event, the component it was delivered to; for an effect, the component that emitted it. */
  readonly component: string;
  readonly kind: RecordKind;
  readonly type: string;
  /** The message without its `type`, summarized. */
  readonly payload: Summary;
  /** Set on an event the component's machine had no transition for (its state did not change). */
  readonly ignored?: true;
}

export type Observer = (record: TraceRecord) => void;

export type RecorderOptions =
  | { readonly mode: 'full'; readonly summarize?: (payload: unknown) => Summary }
  | { readonly mode: 'ring'; readonly capacity: number; readonly summarize?: (payload: unknown) => Summary };

const MAX_DEPTH = 8;

/**
 * The default payload summary: JSON data kept as is; byte arrays as `"<n bytes>"`; `undefined`
 * fields and functions dropped; non-finite numbers and bigints as strings; Maps and Sets as arrays
 * of entries; nesting deeper than 8 as `"..."`.
 */
export function summarize(value: unknown, depth = 0): Summary {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'string':
    case 'boolean':
      return value;
    case 'bigint':
      return `${value}n`;
    case 'undefined':
    case 'function':
    case 'symbol':
      return null;
  }
  if (value === null) return null;
  if (depth >= MAX_DEPTH) return '...';
  if (ArrayBuffer.isView(value)) return `<${value.byteLength} bytes>`;
  if (value instanceof ArrayBuffer) return `<${value.byteLength} bytes>`;
  if (Array.isArray(value)) return value.map((v) => summarize(v, depth + 1));
  if (value instanceof Map) return [...value.entries()].map(([k, v]) => [summarize(k, depth + 1), summarize(v, depth + 1)]);
  if (value instanceof Set) return [...value].map((v) => summarize(v, depth + 1));
  const out: Record<string, Summary> = {};
  for (const [k, v] of Object.entries(value as object)) {
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    out[k] = summarize(v, depth + 1);
  }
  return out;
}

/** The payload of a `{ type, ...fields }` message: its fields without `type`. */
function payloadOf(message: { readonly type: string }): unknown {
  const { type: _type, ...rest } = message as { type: string } & Record<string, unknown>;
  return rest;
}

export class Recorder {
  readonly mode: 'full' | 'ring';
  /** Ring capacity (records kept); `Infinity` in full mode. */
  readonly capacity: number;
  readonly #summarize: (payload: unknown) => Summary;
  readonly #buf: TraceRecord[] = [];
  /** Ring: index in `#buf` of the oldest record once the ring is full. */
  #head = 0;
  #total = 0;
  #lastT = 0;
  readonly #observers: Observer[] = [];

  constructor(opts: RecorderOptions = { mode: 'full' }) {
    this.mode = opts.mode;
    if (opts.mode === 'ring') {
      if (!Number.isSafeInteger(opts.capacity) || opts.capacity < 1) {
        throw new Error(`recorder capacity = ${String(opts.capacity)} is not allowed; expected a positive integer`);
      }
      this.capacity = opts.capacity;
    } else {
      this.capacity = Number.POSITIVE_INFINITY;
    }
    this.#summarize = opts.summarize ?? ((p) => summarize(p));
  }

  /** Records ever written (kept or evicted). */
  get total(): number {
    return this.#total;
  }

  /** Records the ring has evicted. */
  get evicted(): number {
    return this.#total - this.#buf.length;
  }

  /**
   * Subscribes an observer to every record written from now on, in order. Returns an unsubscribe.
   * An observer that throws stops the run (the error propagates to the writer).
   */
  observe(fn: Observer): () => void {
    this.#observers.push(fn);
    return () => {
      const i = this.#observers.indexOf(fn);
      if (i >= 0) this.#observers.splice(i, 1);
    };
  }

  /** Writes one record. Times must not decrease: the stream is in the order things happened. */
  record<M extends { readonly type: string }>(t: number, component: string, kind: RecordKind, message: M, extra?: { readonly ignored?: boolean }): TraceRecord {
    if (!Number.isSafeInteger(t) || t < this.#lastT) {
      throw new Error(`record time = ${String(t)} is not allowed; expected an integer no earlier than the last record (${this.#lastT} ns)`);
    }
    const rec: TraceRecord = {
      i: this.#total,
      t,
      component,
      kind,
      type: message.type,
      payload: this.#summarize(payloadOf(message)),
      ...(extra?.ignored ? { ignored: true as const } : {}),
    };
    this.#lastT = t;
    this.#total++;
    if (this.#buf.length < this.capacity) {
      this.#buf.push(rec);
    } else {
      this.#buf[this.#head] = rec;
      this.#head = (this.#head + 1) % this.#buf.length;
    }
    for (const o of this.#observers.slice()) o(rec);
    return rec;
  }

  /** The kept records, oldest first. */
  records(): TraceRecord[] {
    return [...this.#buf.slice(this.#head), ...this.#buf.slice(0, this.#head)];
  }

  /** The latest `n` kept records, oldest first. */
  recent(n: number): TraceRecord[] {
    const all = this.records();
    return n >= all.length ? all : all.slice(all.length - n);
  }

  /** The kept records as a JSON array (one record per line, so diffs read well). */
  toJSON(): string {
    return `[\n${this.records()
      .map((r) => JSON.stringify(r))
      .join(',\n')}\n]`;
  }
}

/** Feeds stored records to observers, as a live run would have: metrics from a saved full trace. */
export function replay(records: readonly TraceRecord[], ...observers: Observer[]): void {
  for (const r of records) for (const o of observers) o(r);
}

/** One record as a line of text, for error messages and the CLI. */
export function formatRecord(r: TraceRecord): string {
  const body = r.payload && typeof r.payload === 'object' && Object.keys(r.payload).length === 0 ? '' : ` ${JSON.stringify(r.payload)}`;
  return `${String(r.t).padStart(12)} ns  ${r.component} ${r.kind === 'event' ? '<-' : '->'} ${r.type}${body}${r.ignored ? ' (ignored)' : ''}`;
}
