/**
 * Machine parameters: declared once as a table, checked by one function.
 *
 * Every machine module declares its `input` parameters as a {@link ParamTable}: name, default
 * (taken from the dissertation or the original implementation), allowed range or values, unit
 * and the section it comes from. {@link checkParams} turns an untrusted `input` into complete
 * parameters or throws an {@link InputError} naming the field, the value and what is allowed.
 * The same table drives the generated documentation and the catalog-wide test that every
 * machine rejects out-of-range input.
 */

/** A numeric parameter. */
export interface NumberParam {
  readonly kind: 'number';
  readonly default: number;
  /** Smallest allowed value (inclusive). */
  readonly min: number;
  /** Largest allowed value (inclusive). */
  readonly max: number;
  /** Whether only whole numbers are allowed. */
  readonly integer: boolean;
  /** Unit shown in docs and errors, for example `pkt/s` or `ns`. */
  readonly unit?: string;
  /** Extra rule a value must satisfy (for example "a power of 2"), with its wording. */
  readonly rule?: { readonly test: (v: number) => boolean; readonly says: string };
  readonly description: string;
  readonly source: string;
}

/** A parameter with a fixed set of string values. */
export interface EnumParam<V extends string = string> {
  readonly kind: 'enum';
  readonly default: V;
  readonly values: readonly V[];
  readonly description: string;
  readonly source: string;
}

/** A yes/no parameter. */
export interface BooleanParam {
  readonly kind: 'boolean';
  readonly default: boolean;
  readonly description: string;
  readonly source: string;
}

export type ParamSpec = NumberParam | EnumParam | BooleanParam;
export type ParamTable = Readonly<Record<string, ParamSpec>>;

/** The complete parameter object a table describes. */
export type ParamsOf<T extends ParamTable> = {
  -readonly [K in keyof T]: T[K] extends NumberParam
    ? number
    : T[K] extends EnumParam<infer V>
      ? V
      : T[K] extends BooleanParam
        ? boolean
        : never;
};

/** A rejected machine input: names the machine, the field, the value and what is allowed. */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(
    readonly machine: string,
    readonly field: string,
    readonly value: unknown,
    readonly allowed: string,
  ) {
    super(`${machine}: input.${field} = ${show(value)} is not allowed; expected ${allowed}`);
  }
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Human wording of what a parameter allows, used in errors and docs. */
export function describeAllowed(spec: ParamSpec): string {
  switch (spec.kind) {
    case 'number': {
      const what = spec.integer ? 'an integer' : 'a number';
      const unit = spec.unit ? ` ${spec.unit}` : '';
      const rule = spec.rule ? `, ${spec.rule.says}` : '';
      return `${what} from ${spec.min} to ${spec.max}${unit}${rule}`;
    }
    case 'enum':
      return `one of ${spec.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'boolean':
      return 'true or false';
  }
}

/**
 * Checks an untrusted input against a table and fills in defaults.
 * Unknown fields are rejected too: a misspelt parameter would otherwise be silently ignored.
 */
export function checkParams<T extends ParamTable>(machine: string, table: T, input: unknown): ParamsOf<T> {
  if (input === undefined || input === null) input = {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new InputError(machine, '(input)', input, 'an object of parameters');
  }
  const given = input as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(table, key)) {
      throw new InputError(machine, key, given[key], `no such parameter (known: ${Object.keys(table).join(', ')})`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) {
    const value = given[key] === undefined ? spec.default : given[key];
    switch (spec.kind) {
      case 'number': {
        const ok =
          typeof value === 'number' &&
          Number.isFinite(value) &&
          value >= spec.min &&
          value <= spec.max &&
          (!spec.integer || Number.isInteger(value)) &&
          (!spec.rule || spec.rule.test(value));
        if (!ok) throw new InputError(machine, key, value, describeAllowed(spec));
        break;
      }
      case 'enum':
        if (typeof value !== 'string' || !spec.values.includes(value)) {
          throw new InputError(machine, key, value, describeAllowed(spec));
        }
        break;
      case 'boolean':
        if (typeof value !== 'boolean') throw new InputError(machine, key, value, describeAllowed(spec));
        break;
    }
    out[key] = value;
  }
  return out as ParamsOf<T>;
}

/** The table's defaults, as a complete parameter object. */
export function defaultsOf<T extends ParamTable>(table: T): ParamsOf<T> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) out[key] = spec.default;
  return out as ParamsOf<T>;
}

/** Values just outside each parameter's range, for the rejection tests. */
export function invalidValuesFor(spec: ParamSpec): unknown[] {
  switch (spec.kind) {
    case 'number': {
      const bad: unknown[] = [Number.NaN, Number.POSITIVE_INFINITY, String(spec.default), null];
      if (Number.isFinite(spec.min)) bad.push(spec.min - (spec.integer ? 1 : Math.max(1e-9, Math.abs(spec.min) * 1e-6 || 1e-9)));
      if (Number.isFinite(spec.max)) bad.push(spec.max + (spec.integer ? 1 : Math.max(1e-9, Math.abs(spec.max) * 1e-6)));
      if (spec.integer && spec.max > spec.min) bad.push(spec.min + 0.5);
      return bad;
    }
    case 'enum':
      return ['no-such-value', 1, null];
    case 'boolean':
      return ['yes', 1, null];
  }
}
