/** The shape of a CLI subcommand, and the argument parsing every subcommand shares. */

export interface Command {
  readonly name: string;
  /** Argument synopsis, e.g. `<machine> [--input file.json] [--json]`. */
  readonly usage: string;
  readonly summary: string;
  /** Longer text shown by `--help`. */
  readonly help?: string;
  /** Runs the command; returns the exit code. Throws `UsageError` for bad arguments or files. */
  readonly run: (args: readonly string[]) => Promise<number>;
}

/** A mistake the user can fix: printed as one message, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface OptionSpec {
  /** Options that take a value, e.g. `--input`. */
  readonly values?: readonly string[];
  /** Options that are flags, e.g. `--json`. */
  readonly flags?: readonly string[];
}

export interface ParsedArgs {
  readonly positional: string[];
  readonly values: Map<string, string>;
  readonly flags: Set<string>;
}

/** Parses `args` strictly: an unknown option or a missing value is a `UsageError`. */
export function parseArgs(args: readonly string[], spec: OptionSpec): ParsedArgs {
  const positional: string[] = [];
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const [name, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    if (spec.flags?.includes(name)) {
      if (inline !== undefined) throw new UsageError(`${name} takes no value`);
      flags.add(name);
    } else if (spec.values?.includes(name)) {
      const v = inline ?? args[++i];
      if (v === undefined || (inline === undefined && v.startsWith('--'))) throw new UsageError(`${name} needs a value`);
      values.set(name, v);
    } else {
      const known = [...(spec.values ?? []), ...(spec.flags ?? [])];
      throw new UsageError(`unknown option ${name}${known.length ? ` (known: ${known.join(', ')})` : ''}`);
    }
  }
  return { positional, values, flags };
}

/** A positive integer option value, or a `UsageError` naming the option. */
export function intOption(args: ParsedArgs, name: string, fallback: number): number {
  const v = args.values.get(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${name} must be a positive integer, got "${v}"`);
  return n;
}
