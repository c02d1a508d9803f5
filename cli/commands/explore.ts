/**
 * `vnet-model explore <machine>`: exhaustive breadth-first exploration of one catalog machine for
 * its samples or a given input, with the entry's finite event alphabet. Prints the state-space
 * size, deadlocks, invariant violations with the shortest path to each, which "sometimes"
 * witnesses were reached, what the runs left unreached, and the speed.
 *
 * Exit code 0: no violation and no deadlock; 1: a violation or a deadlock; 2: a usage error.
 */
import { readFileSync } from 'node:fs';
import type { EventObject } from 'xstate';
import { catalog, machineIds, type AnyCatalogEntry } from '../../machines/index.js';
import { allWitnesses, explore, type ExploreResult } from '../../model/explore.js';
import { stateNodes, transitions } from '../../model/introspect.js';
import { intOption, parseArgs, UsageError, type Command } from '../command.js';

// ---- shared with `replay` ----------------------------------------------------------------------

/** The catalog entry for `id`, or a usage error listing the known ids. */
export function entryOrUsageError(id: string | undefined): AnyCatalogEntry {
  if (!id) throw new UsageError(`name a machine (known: ${machineIds.join(', ')})`);
  const e = catalog[id];
  if (!e) throw new UsageError(`unknown machine "${id}" (known: ${machineIds.join(', ')})`);
  return e;
}

/** Reads a JSON file, or a usage error naming the file and what is wrong with it. */
export function readJsonFile(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${what} "${file}": ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UsageError(`${what} "${file}" is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Reads a machine input from a JSON file and validates it with the entry's `checkInput` (which
 * throws an `InputError` naming the field). Returns the input as written: the machine completes
 * it with its defaults itself.
 */
export function readInputFile(entry: AnyCatalogEntry, file: string): unknown {
  const input = readJsonFile(file, 'input file');
  entry.checkInput(input);
  return input;
}

// ---- exploration report ------------------------------------------------------------------------

export interface ExploreRun {
  readonly name: string;
  readonly input: unknown;
}

export interface ExploreRunReport {
  readonly name: string;
  readonly input: unknown;
  readonly states: number;
  readonly transitions: number;
  readonly depth: number;
  readonly complete: boolean;
  readonly elapsedMs: number;
  readonly statesPerSecond: number;
  /** How many states deadlock (no alphabet event enabled, and not final). */
  readonly deadlockCount: number;
  /** The first few deadlocked states, with the shortest path to each. */
  readonly deadlocks: readonly { key: string; path: readonly EventObject[] }[];
  /** The first (shortest-path) violation of each invariant, and how many states violate it. */
  readonly violations: readonly { invariant: string; message: string; count: number; path: readonly EventObject[] }[];
  readonly witnessesReached: readonly string[];
  readonly witnessesUnreached: readonly string[];
  readonly unreachedStateNodes: readonly string[];
  readonly unreachedTransitions: readonly string[];
}

export interface ExploreReport {
  readonly machine: string;
  readonly title: string;
  readonly runs: readonly ExploreRunReport[];
  /** What no run reached (coverage is judged over all runs together). */
  readonly unreached: { readonly stateNodes: readonly string[]; readonly transitions: readonly string[]; readonly witnesses: readonly string[] };
  readonly states: number;
  readonly statesPerSecond: number;
  /** No violation and no deadlock in any run. */
  readonly ok: boolean;
}

export interface ExploreCommandOptions {
  readonly maxStates?: number;
  readonly maxDepth?: number;
  readonly onProgress?: (run: string, p: { states: number; transitions: number; depth: number; elapsedMs: number; statesPerSecond: number }) => void;
}

function summarize(entry: AnyCatalogEntry, run: ExploreRun, r: ExploreResult): ExploreRunReport {
  const byInvariant = new Map<string, { invariant: string; message: string; count: number; path: readonly EventObject[] }>();
  for (const v of r.violations) {
    const seen = byInvariant.get(v.invariant);
    if (seen) seen.count++;
    else byInvariant.set(v.invariant, { invariant: v.invariant, message: v.message, count: 1, path: v.path });
  }
  const witnesses = allWitnesses(entry).map((w) => w.name);
  return {
    name: run.name,
    input: run.input,
    states: r.states,
    transitions: r.transitions,
    depth: r.depth,
    complete: r.complete,
    elapsedMs: r.elapsedMs,
    statesPerSecond: r.statesPerSecond,
    deadlockCount: r.deadlocks.length,
    deadlocks: r.deadlocks.slice(0, 10),
    violations: [...byInvariant.values()],
    witnessesReached: witnesses.filter((w) => r.witnessesReached.has(w)),
    witnessesUnreached: witnesses.filter((w) => !r.witnessesReached.has(w)),
    unreachedStateNodes: stateNodes(entry.machine).map((n) => n.id).filter((id) => !r.stateNodesReached.has(id)),
    unreachedTransitions: transitions(entry.machine).map((t) => t.id).filter((id) => !r.transitionsReached.has(id)),
  };
}

/** Explores `entry` from each of `runs` and reports; the pure core of the command. */
export function exploreEntry(entry: AnyCatalogEntry, runs: readonly ExploreRun[], opts: ExploreCommandOptions = {}): ExploreReport {
  const reports = runs.map((run) =>
    summarize(
      entry,
      run,
      explore(entry, run.input, {
        maxStates: opts.maxStates,
        maxDepth: opts.maxDepth,
        progressEvery: 5_000,
        onProgress: opts.onProgress && ((p) => opts.onProgress!(run.name, p)),
      }),
    ),
  );
  const inAll = (pick: (r: ExploreRunReport) => readonly string[]) =>
    reports.length === 0 ? [] : pick(reports[0]).filter((x) => reports.every((r) => pick(r).includes(x)));
  const states = reports.reduce((a, r) => a + r.states, 0);
  const ms = reports.reduce((a, r) => a + r.elapsedMs, 0);
  return {
    machine: entry.id,
    title: entry.title,
    runs: reports,
    unreached: {
      stateNodes: inAll((r) => r.unreachedStateNodes),
      transitions: inAll((r) => r.unreachedTransitions),
      witnesses: inAll((r) => r.witnessesUnreached),
    },
    states,
    statesPerSecond: ms > 0 ? Math.round((states * 1000) / ms) : 0,
    ok: reports.every((r) => r.violations.length === 0 && r.deadlockCount === 0),
  };
}

const num = (n: number) => n.toLocaleString('en');

function formatPath(path: readonly EventObject[], indent: string): string[] {
  if (path.length === 0) return [`${indent}(in the initial state)`];
  return path.map((e, i) => `${indent}${String(i + 1).padStart(3)}. ${JSON.stringify(e)}`);
}

function list(label: string, items: readonly string[], none = 'none'): string {
  return `${label}: ${items.length ? items.join(', ') : none}`;
}

/** The report as text for a terminal. */
export function formatExploreReport(r: ExploreReport): string {
  const out: string[] = [`${r.machine}: ${r.title}`];
  for (const run of r.runs) {
    out.push('', `${run.name}  input ${JSON.stringify(run.input)}`);
    const secs = (run.elapsedMs / 1000).toFixed(2);
    out.push(
      `  ${num(run.states)} states, ${num(run.transitions)} transitions, depth ${run.depth}, ` +
        `${run.complete ? 'complete' : 'INCOMPLETE (stopped at --max-states or --depth)'}; ${secs} s, ${num(run.statesPerSecond)} states/s`,
    );
    if (run.violations.length === 0) out.push('  violations: none');
    for (const v of run.violations) {
      out.push(`  VIOLATION of ${v.invariant} (${num(v.count)} state${v.count === 1 ? '' : 's'}): ${v.message}`);
      out.push(`    shortest path (${v.path.length} events):`, ...formatPath(v.path, '    '));
    }
    if (run.deadlockCount === 0) out.push('  deadlocks: none');
    else {
      out.push(`  DEADLOCKS: ${num(run.deadlockCount)} states in which no event is enabled; the first:`);
      out.push(`    state ${run.deadlocks[0].key}`, ...formatPath(run.deadlocks[0].path, '    '));
    }
    out.push(`  ${list('witnesses reached', run.witnessesReached)}`);
    out.push(`  ${list('witnesses not reached', run.witnessesUnreached)}`);
  }
  out.push('', `over all ${r.runs.length} run${r.runs.length === 1 ? '' : 's'}: ${num(r.states)} states, ${num(r.statesPerSecond)} states/s`);
  out.push(`  ${list('state nodes not reached', r.unreached.stateNodes)}`);
  out.push(`  ${list('transitions not taken', r.unreached.transitions)}`);
  out.push(`  ${list('witnesses not reached', r.unreached.witnesses)}`);
  out.push('', r.ok ? 'ok: no invariant violation, no deadlock' : 'FAILED: see the violations and deadlocks above');
  return out.join('\n');
}

// ---- the command -------------------------------------------------------------------------------

/** The runs the arguments ask for: `--input`, one `--sample`, or every sample. */
function runsFor(entry: AnyCatalogEntry, inputFile: string | undefined, sample: string | undefined): ExploreRun[] {
  if (inputFile !== undefined && sample !== undefined) throw new UsageError('give --input or --sample, not both');
  if (inputFile !== undefined) return [{ name: inputFile, input: readInputFile(entry, inputFile) }];
  if (sample !== undefined) {
    const s = entry.samples.find((x) => x.name === sample);
    if (!s) throw new UsageError(`${entry.id} has no sample "${sample}" (samples: ${entry.samples.map((x) => x.name).join(', ')})`);
    return [{ name: s.name, input: s.input }];
  }
  return entry.samples.map((s) => ({ name: s.name, input: s.input }));
}

/** Progress on stderr, only once a run has taken a second, so short runs stay quiet. */
function progressLine(machine: string) {
  return (run: string, p: { states: number; transitions: number; depth: number; elapsedMs: number; statesPerSecond: number }) => {
    if (p.elapsedMs < 1000) return;
    process.stderr.write(
      `explore ${machine} ${run}: ${num(p.states)} states, ${num(p.transitions)} transitions, depth ${p.depth}, ${num(p.statesPerSecond)} states/s\n`,
    );
  };
}

export const exploreCommand: Command = {
  name: 'explore',
  usage: '<machine> [--input file.json] [--sample NAME] [--max-states N] [--depth N] [--json]',
  summary: 'enumerate the reachable states of a machine; report violations, deadlocks, witnesses and coverage',
  help: [
    'Explores breadth first with the machine\'s finite event alphabet, from every sample of the',
    'catalog entry (or one --sample, or the input in --input file.json), and prints the number of',
    'states and transitions, the depth, deadlocks, invariant violations with the shortest path to',
    'each, the "sometimes" witnesses reached and not, the state nodes and transitions no run',
    'reached, and states per second. --json prints one JSON document instead.',
    '',
    'Exit code: 0 when no invariant is violated and nothing deadlocks, 1 otherwise, 2 for usage errors.',
  ].join('\n'),
  run: async (args) => {
    const parsed = parseArgs(args, { values: ['--input', '--sample', '--max-states', '--depth'], flags: ['--json'] });
    if (parsed.positional.length > 1) throw new UsageError(`explore takes one machine, got ${parsed.positional.join(' ')}`);
    const entry = entryOrUsageError(parsed.positional[0]);
    const runs = runsFor(entry, parsed.values.get('--input'), parsed.values.get('--sample'));
    const report = exploreEntry(entry, runs, {
      maxStates: intOption(parsed, '--max-states', 1_000_000),
      maxDepth: parsed.values.has('--depth') ? intOption(parsed, '--depth', 1) : undefined,
      onProgress: progressLine(entry.id),
    });
    console.log(parsed.flags.has('--json') ? JSON.stringify(report, null, 2) : formatExploreReport(report));
    return report.ok ? 0 : 1;
  },
};

// ---- benchmark ---------------------------------------------------------------------------------

export interface ExploreBenchResult {
  readonly id: string;
  readonly sample: string;
  readonly states: number;
  readonly transitions: number;
  /** Median over the repetitions. */
  readonly statesPerSecond: number;
}

/**
 * Exploration speed of each sample of the given machines (default: the whole catalog), as the
 * median of `repeats` explorations after one warm-up. For `npm run bench`.
 */
export function benchExplore(ids: readonly string[] = machineIds, repeats = 5): ExploreBenchResult[] {
  const out: ExploreBenchResult[] = [];
  for (const id of ids) {
    const entry = catalog[id];
    for (const sample of entry.samples) {
      const first = explore(entry, sample.input);
      const rates = Array.from({ length: repeats }, () => explore(entry, sample.input).statesPerSecond).sort((a, b) => a - b);
      out.push({ id, sample: sample.name, states: first.states, transitions: first.transitions, statesPerSecond: rates[Math.floor(rates.length / 2)] });
    }
  }
  return out;
}
