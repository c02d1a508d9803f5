/**
 * What the catalog knows about each machine.
 *
 * The docs generator, the explorer, the CLI and the catalog-wide tests iterate the catalog, so a
 * machine is added to all of them by adding one {@link CatalogEntry} to `machines/index.ts`.
 */
import type { AnyStateMachine, EventFromLogic, InputFrom, SnapshotFrom } from 'xstate';
import type { ParamTable } from './params.js';

/**
 * A safety property of one protocol, stated over a snapshot.
 *
 * `check` returns `undefined` when the property holds and otherwise a sentence saying what is
 * wrong in the protocol's own terms. Every invariant carries a "sometimes" witness: a condition
 * some run must reach, so that the invariant is not vacuously true (a ring that never fills
 * cannot show that it never overfills).
 */
export interface Invariant<S> {
  /** Kebab-case name, used in reports and test titles. */
  readonly name: string;
  /** The claim in English. */
  readonly description: string;
  /** Dissertation, RFC, IBTA or virtio section the claim comes from. */
  readonly source: string;
  readonly check: (snapshot: S) => string | undefined;
  readonly witness: Witness<S>;
}

/** A condition that some run must reach ("sometimes", in Stateright's terms). */
export interface Witness<S> {
  readonly name: string;
  readonly description: string;
  readonly reached: (snapshot: S) => boolean;
}

/** An event or effect type with a one-line description, for docs and conformance logs. */
export interface MessageDoc {
  readonly type: string;
  readonly description: string;
}

/** A named sample input. */
export interface Sample<I> {
  readonly name: string;
  readonly input: I;
}

export interface CatalogEntry<M extends AnyStateMachine = AnyStateMachine> {
  /** The id used on the command line and in docs file names, equal to the module name. */
  readonly id: string;
  readonly title: string;
  /** The protocol in a paragraph, for the generated docs. */
  readonly summary: string;
  /** Sections of the dissertation (or other specification) the machine implements. */
  readonly source: readonly string[];
  readonly machine: M;
  /** Declared input parameters with defaults and ranges. */
  readonly params: ParamTable;
  /** Validates an untrusted input; throws an `InputError` naming the field. */
  readonly checkInput: (input: unknown) => InputFrom<M>;
  /**
   * Small inputs whose state spaces are explored exhaustively and pinned. The first is the
   * primary sample; more are given where one input cannot reach every transition (a transmit and
   * a receive queue, say). Coverage and witnesses are judged over all of them together.
   */
  readonly samples: readonly Sample<InputFrom<M>>[];
  readonly invariants: readonly Invariant<SnapshotFrom<M>>[];
  /** Extra "sometimes" witnesses beyond those of the invariants. */
  readonly witnesses: readonly Witness<SnapshotFrom<M>>[];
  /**
   * A finite event alphabet for exploration: the events to try from `snapshot`.
   * Random runs choose among these too. Must be deterministic in the snapshot.
   */
  readonly events: (snapshot: SnapshotFrom<M>) => readonly EventFromLogic<M>[];
  /**
   * A finite key for a snapshot: state value plus the context that matters, with counters,
   * totals and absolute times abstracted away, so that exploration terminates.
   */
  readonly serializeState: (snapshot: SnapshotFrom<M>) => string;
  /** Event types the machine accepts, described. */
  readonly accepts: readonly MessageDoc[];
  /** Effect types the machine emits, described. */
  readonly emits: readonly MessageDoc[];
}

export type AnyCatalogEntry = CatalogEntry<AnyStateMachine>;

/** Identity helper that keeps each entry's own machine type while checking its shape. */
export function defineEntry<M extends AnyStateMachine>(entry: CatalogEntry<M>): CatalogEntry<M> {
  return entry;
}
