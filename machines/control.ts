/**
 * VNET/P control: the text language of the route and link files, checked before anything
 * reaches the core.
 *
 * Sources: dissertation §5.1.5 (the control component configures links, interfaces and routing
 * rules, and checks validity before it transfers a configuration to the core); the original's
 * `/proc/v3vee/vnet/routes` and `links` files (palacios-notes.md §5).
 *
 * The daemon keeps the link table and the route table as it sees them, and the vNICs registered
 * with the core (a route names an interface by the vNIC's MAC). A batch of text is parsed line by
 * line against those tables (later lines see the effect of earlier ones); only when every line is
 * valid are the changes emitted, in order, for the routing core (`route.add`, `route.del`) and the
 * bridge (`link.add`, `link.del`), and the daemon's tables updated. Otherwise nothing changes and
 * the error names the line, the column, what was expected and what was found.
 *
 *     routes:  add SRC-MAC DST-MAC DST-TYPE DST-ID SRC-TYPE [SRC-ID]      del IDX
 *              SRC-MAC, DST-MAC: any | none | not-MAC | MAC        (MAC: six hex octets a:b:c:d:e:f)
 *              DST-TYPE: interface (DST-ID = the vNIC's MAC) | edge (DST-ID = a link's IPv4, or local)
 *              SRC-TYPE: any (no SRC-ID) | interface | edge
 *     links:   add IP PORT [udp]                                        del IDX
 *
 * Route indices are the core's (it counts from 1 and never reuses one); the daemon numbers its
 * routes the same way, and link indices likewise.
 *
 * Where the original mangles input, this language rejects it or accepts it correctly:
 * - rejected: prefixes or extensions of keywords (`a`, `an`, `n`, `non`, `addroute`, `delete`,
 *   `inter`, `interfaces`), which the original partly accepted; an unparsable MAC (unknown word,
 *   `bogus-…`, too few or too many octets, bad hex), which the original accepted as a route that
 *   never matches or with zero octets; an unparsable IP, which the original injected as a
 *   half-filled route; trailing tokens, which the original ignored; unknown commands, which it
 *   skipped; a non-numeric or unknown `del` index, which it treated as 0 or ignored; a port that is
 *   not 1-65535 (the original truncated it to 16 bits, or read 0); `tcp` links (non-functional in the
 *   original); a second link to an IP that already has one (routes and the bridge's receive side
 *   tell links apart by IP only); deleting a link a route still uses (the original left the route
 *   dangling and its printer dereferenced NULL); a line longer than `maxLineLength` (the original
 *   refused any write of 256 bytes or more) or holding a character that is not printable ASCII;
 * - accepted correctly: interface-sourced routes (`… interface MAC` as SRC-TYPE SRC-ID), which the
 *   original could not enter; keywords in any letter case; blank lines (skipped; the original
 *   aborted on a line of blanks); several spaces or tabs between tokens; `edge local`, the special
 *   link to the local network (§5.1.2), which the original's text has no way to name;
 * - a rejected batch changes nothing (the original kept the lines before the failing one).
 */
import { assign, enqueueActions, setup, type SnapshotFrom } from 'xstate';
import { defineEntry, type Invariant, type Witness } from './catalog-entry.js';
import { checkParams, type ParamsOf } from './params.js';
import { LOCAL_NETWORK_LINK, isMac, type Destination, type Mac, type MacMatch, type RouteOrigin, type RouteSpec } from './routing.js';

// ---- tables --------------------------------------------------------------------------------------

export type ControlKind = 'routes' | 'links';

/** An overlay link: the remote endpoint's IPv4 address and UDP port. */
export interface Link {
  readonly idx: number;
  readonly ip: string;
  readonly port: number;
}

/** A vNIC the daemon knows: its interface id in the core and its MAC. Unregistered vNICs are kept (not present) so that routes naming them can still be printed. */
export interface Vnic {
  readonly id: number;
  readonly mac: Mac;
  readonly present: boolean;
}

export interface ControlRoute {
  readonly idx: number;
  readonly route: RouteSpec;
}

/** What the daemon knows, and what a batch is checked against. */
export interface ControlTables {
  /** Routes by age, oldest first. */
  readonly routes: readonly ControlRoute[];
  readonly links: readonly Link[];
  readonly vnics: readonly Vnic[];
  /** The index the core gives the next route. */
  readonly nextRouteIdx: number;
  /** The index the bridge gives the next link. */
  readonly nextLinkIdx: number;
}

/** One change a valid batch makes; also the effect emitted for the core or the bridge. */
export type Change =
  | { readonly type: 'route.add'; readonly idx: number; readonly route: RouteSpec }
  | { readonly type: 'route.del'; readonly idx: number }
  /** Link changes use the bridge's field names: `id` is the link's index. */
  | { readonly type: 'link.add'; readonly id: number; readonly ip: string; readonly port: number; readonly proto: 'udp' }
  | { readonly type: 'link.del'; readonly id: number };

/** A rejected line: 1-based line and column within the batch text. */
export interface ControlError {
  readonly line: number;
  readonly column: number;
  readonly expected: string;
  /** The offending token (shortened), `end of line`, or a described character. */
  readonly found: string;
  readonly message: string;
}

export type ParseResult =
  | { readonly ok: true; readonly changes: readonly Change[]; readonly tables: ControlTables }
  | { readonly ok: false; readonly error: ControlError };

export const DEFAULT_MAX_LINE_LENGTH = 255;

// ---- parser --------------------------------------------------------------------------------------

class Rejection {
  constructor(readonly error: ControlError) {}
}

interface Token {
  readonly text: string;
  /** 1-based column of the token's first character. */
  readonly column: number;
}

function shown(text: string): string {
  return text.length > 40 ? `"${text.slice(0, 37)}..."` : `"${text}"`;
}

function describeChar(ch: string): string {
  const code = ch.codePointAt(0) ?? 0;
  return `character U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

function reject(line: number, column: number, expected: string, found: string, detail?: string): never {
  const message = `line ${line}, column ${column}: expected ${expected}, found ${found}${detail ? ` (${detail})` : ''}`;
  throw new Rejection({ line, column, expected, found, message });
}

/** A parsed MAC in canonical form, or null: six groups of one or two hex digits separated by colons. */
export function parseMac(text: string): Mac | null {
  const parts = text.split(':');
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{1,2}$/.test(p))) return null;
  return parts.map((p) => p.toLowerCase().padStart(2, '0')).join(':');
}

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4_RE = new RegExp(`^${OCTET}(\\.${OCTET}){3}$`);

/** A dotted-quad IPv4 address (no leading zeros), or null. */
export function parseIpv4(text: string): string | null {
  return IPV4_RE.test(text) ? text : null;
}

const EXPECT = {
  command: '"add" or "del"',
  mac: 'a MAC qualifier: any, none, not-MAC, or a MAC such as 02:00:00:00:00:01',
  destType: 'a destination type: interface or edge',
  srcType: 'a source type: any, interface or edge',
  vnic: 'the MAC of a registered vNIC',
  link: 'the IPv4 address of a link in the links table, or local',
  end: 'end of line',
  routeIdx: 'the index of a route in the table',
  linkIdx: 'the index of a link in the links table',
  ip: 'an IPv4 address such as 10.0.0.1',
  newIp: 'an IPv4 address no link has yet',
  port: 'a UDP port from 1 to 65535',
  proto: '"udp" or end of line',
  unusedLink: 'a link no route uses',
} as const;

/** The batch being checked: a copy of the tables that earlier lines have already changed. */
interface Sim {
  routes: ControlRoute[];
  links: Link[];
  vnics: readonly Vnic[];
  nextRouteIdx: number;
  nextLinkIdx: number;
  changes: Change[];
}

class LineParser {
  private i = 0;
  constructor(
    private readonly line: number,
    private readonly tokens: readonly Token[],
    private readonly endColumn: number,
    private readonly sim: Sim,
  ) {}

  /** The next token, or a rejection saying what should have been there. */
  private next(expected: string): Token {
    const t = this.tokens[this.i];
    if (!t) reject(this.line, this.endColumn, expected, 'end of line');
    this.i++;
    return t;
  }

  private end(): void {
    const t = this.tokens[this.i];
    if (t) reject(this.line, t.column, EXPECT.end, shown(t.text), 'extra text after a complete command');
  }

  private keyword<K extends string>(expected: string, words: readonly K[]): K {
    const t = this.next(expected);
    const w = t.text.toLowerCase();
    const hit = words.find((k) => k === w);
    if (hit === undefined) reject(this.line, t.column, expected, shown(t.text), 'keywords are whole words');
    return hit;
  }

  private index(expected: string): { idx: number; token: Token } {
    const t = this.next(expected);
    if (!/^[0-9]{1,9}$/.test(t.text)) reject(this.line, t.column, expected, shown(t.text), 'an index is a decimal number');
    return { idx: Number(t.text), token: t };
  }

  private macMatch(): MacMatch {
    const t = this.next(EXPECT.mac);
    const lower = t.text.toLowerCase();
    if (lower === 'any') return { kind: 'any' };
    if (lower === 'none') return { kind: 'none' };
    if (lower.startsWith('not-')) {
      const mac = parseMac(t.text.slice(4));
      if (!mac) reject(this.line, t.column + 4, 'a MAC such as 02:00:00:00:00:01 after not-', shown(t.text.slice(4)));
      return { kind: 'not', mac };
    }
    const mac = parseMac(t.text);
    if (!mac) reject(this.line, t.column, EXPECT.mac, shown(t.text));
    return { kind: 'addr', mac };
  }

  /** The id after `interface` or `edge`: a present vNIC's MAC, or a link's IP (or `local`). */
  private endpoint(type: 'interface' | 'edge'): Destination {
    if (type === 'interface') {
      const t = this.next(EXPECT.vnic);
      const mac = parseMac(t.text);
      if (!mac) reject(this.line, t.column, EXPECT.vnic, shown(t.text), 'not a MAC');
      const v = this.sim.vnics.find((x) => x.present && x.mac === mac);
      if (!v) reject(this.line, t.column, EXPECT.vnic, shown(t.text), `no registered vNIC has MAC ${mac}`);
      return { kind: 'interface', id: v.id };
    }
    const t = this.next(EXPECT.link);
    if (t.text.toLowerCase() === 'local') return { kind: 'link', id: LOCAL_NETWORK_LINK };
    const ip = parseIpv4(t.text);
    if (!ip) reject(this.line, t.column, EXPECT.link, shown(t.text), 'not an IPv4 address');
    const l = this.sim.links.find((x) => x.ip === ip);
    if (!l) reject(this.line, t.column, EXPECT.link, shown(t.text), `no link connects to ${ip}; add it in the links file first`);
    return { kind: 'link', id: l.idx };
  }

  route(): void {
    const cmd = this.keyword(EXPECT.command, ['add', 'del'] as const);
    if (cmd === 'del') {
      const { idx, token } = this.index(EXPECT.routeIdx);
      if (!this.sim.routes.some((r) => r.idx === idx)) reject(this.line, token.column, EXPECT.routeIdx, shown(token.text), `no route has index ${idx}`);
      this.end();
      this.sim.routes = this.sim.routes.filter((r) => r.idx !== idx);
      this.sim.changes.push({ type: 'route.del', idx });
      return;
    }
    const srcMac = this.macMatch();
    const dstMac = this.macMatch();
    const dest = this.endpoint(this.keyword(EXPECT.destType, ['interface', 'edge'] as const));
    const srcType = this.keyword(EXPECT.srcType, ['any', 'interface', 'edge'] as const);
    const from: RouteOrigin = srcType === 'any' ? { kind: 'any' } : this.endpoint(srcType);
    this.end();
    const route: RouteSpec = { srcMac, dstMac, dest, from };
    const idx = this.sim.nextRouteIdx++;
    this.sim.routes = [...this.sim.routes, { idx, route }];
    this.sim.changes.push({ type: 'route.add', idx, route });
  }

  link(): void {
    const cmd = this.keyword(EXPECT.command, ['add', 'del'] as const);
    if (cmd === 'del') {
      const { idx, token } = this.index(EXPECT.linkIdx);
      const l = this.sim.links.find((x) => x.idx === idx);
      if (!l) reject(this.line, token.column, EXPECT.linkIdx, shown(token.text), `no link has index ${idx}`);
      const user = this.sim.routes.find((r) => usesLink(r.route, idx));
      if (user)
        reject(this.line, token.column, EXPECT.unusedLink, shown(token.text), `link ${idx} (${l.ip}) is used by route ${user.idx}; delete the route first`);
      this.end();
      this.sim.links = this.sim.links.filter((x) => x.idx !== idx);
      this.sim.changes.push({ type: 'link.del', id: idx });
      return;
    }
    const t = this.next(EXPECT.ip);
    const ip = parseIpv4(t.text);
    if (!ip) reject(this.line, t.column, EXPECT.ip, shown(t.text));
    const dup = this.sim.links.find((x) => x.ip === ip);
    if (dup) reject(this.line, t.column, EXPECT.newIp, shown(t.text), `link ${dup.idx} already connects to ${ip}; links are told apart by IP`);
    const p = this.next(EXPECT.port);
    const port = /^[0-9]{1,5}$/.test(p.text) ? Number(p.text) : 0;
    if (port < 1 || port > 65535) reject(this.line, p.column, EXPECT.port, shown(p.text));
    const proto = this.tokens[this.i];
    if (proto) {
      if (proto.text.toLowerCase() !== 'udp')
        reject(this.line, proto.column, EXPECT.proto, shown(proto.text), proto.text.toLowerCase() === 'tcp' ? 'only UDP encapsulation is supported' : undefined);
      this.i++;
    }
    this.end();
    const idx = this.sim.nextLinkIdx++;
    this.sim.links = [...this.sim.links, { idx, ip, port }];
    this.sim.changes.push({ type: 'link.add', id: idx, ip, port, proto: 'udp' });
  }
}

/** Whether a route names link `idx` as its destination or its source. */
export function usesLink(r: RouteSpec, idx: number): boolean {
  return (r.dest.kind === 'link' && r.dest.id === idx) || (r.from.kind === 'link' && r.from.id === idx);
}

const nextAfter = (xs: readonly { idx: number }[]) => xs.reduce((m, x) => Math.max(m, x.idx), 0) + 1;

/** Complete tables from a partial view (empty tables, next indices past the largest in use). */
export function completeTables(t: Partial<ControlTables> = {}): ControlTables {
  const routes = t.routes ?? [];
  const links = t.links ?? [];
  return {
    routes,
    links,
    vnics: t.vnics ?? [],
    nextRouteIdx: t.nextRouteIdx ?? nextAfter(routes),
    nextLinkIdx: t.nextLinkIdx ?? nextAfter(links),
  };
}

/**
 * Parses a batch of route or link commands against the daemon's tables. Never throws: returns the
 * changes in order with the tables they lead to, or the first error with its line and column.
 */
export function parseControl(
  text: unknown,
  kind: unknown,
  tables: Partial<ControlTables> = {},
  opts: { maxLineLength?: number } = {},
): ParseResult {
  const max = opts.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
  try {
    if (kind !== 'routes' && kind !== 'links') {
      // String(kind) itself can throw (an object whose toString is not callable).
      const found = typeof kind === 'string' ? shown(kind) : kind === null ? 'null' : typeof kind;
      reject(1, 1, '"routes" or "links" as the kind of batch', found);
    }
    if (typeof text !== 'string') reject(1, 1, 'the text of a batch', typeof text);
    const t = completeTables(tables);
    const sim: Sim = { routes: [...t.routes], links: [...t.links], vnics: t.vnics, nextRouteIdx: t.nextRouteIdx, nextLinkIdx: t.nextLinkIdx, changes: [] };
    const lines = text.split(/\r\n|\r|\n/);
    lines.forEach((line, n) => {
      const lineNo = n + 1;
      if (line.length > max) reject(lineNo, max + 1, `at most ${max} characters on a line`, `${line.length} characters`);
      for (let c = 0; c < line.length; c++) {
        const code = line.charCodeAt(c);
        if (code !== 0x09 && (code < 0x20 || code > 0x7e))
          reject(lineNo, c + 1, 'printable ASCII, spaces and tabs', describeChar(line.slice(c, c + 2)));
      }
      const tokens: Token[] = [];
      for (const m of line.matchAll(/[^ \t]+/g)) tokens.push({ text: m[0], column: (m.index ?? 0) + 1 });
      if (tokens.length === 0) return; // blank line
      const p = new LineParser(lineNo, tokens, line.length + 1, sim);
      if (kind === 'routes') p.route();
      else p.link();
    });
    return {
      ok: true,
      changes: sim.changes,
      tables: { routes: sim.routes, links: sim.links, vnics: sim.vnics, nextRouteIdx: sim.nextRouteIdx, nextLinkIdx: sim.nextLinkIdx },
    };
  } catch (e) {
    if (e instanceof Rejection) return { ok: false, error: e.error };
    throw e;
  }
}

/** The tables after a list of changes (no checks: the parser has made them). */
export function applyChanges(t: ControlTables, changes: readonly Change[]): ControlTables {
  let { routes, links, nextRouteIdx, nextLinkIdx } = t;
  for (const c of changes) {
    switch (c.type) {
      case 'route.add':
        routes = [...routes, { idx: c.idx, route: c.route }];
        nextRouteIdx = Math.max(nextRouteIdx, c.idx + 1);
        break;
      case 'route.del':
        routes = routes.filter((r) => r.idx !== c.idx);
        break;
      case 'link.add':
        links = [...links, { idx: c.id, ip: c.ip, port: c.port }];
        nextLinkIdx = Math.max(nextLinkIdx, c.id + 1);
        break;
      case 'link.del':
        links = links.filter((l) => l.idx !== c.id);
        break;
    }
  }
  return { routes, links, vnics: t.vnics, nextRouteIdx, nextLinkIdx };
}

// ---- printer -------------------------------------------------------------------------------------

export function printMacMatch(m: MacMatch): string {
  switch (m.kind) {
    case 'any':
    case 'none':
      return m.kind;
    case 'not':
      return `not-${m.mac}`;
    case 'addr':
      return m.mac;
  }
}

function printEndpoint(t: Pick<ControlTables, 'links' | 'vnics'>, e: RouteOrigin, routeIdx: number): string {
  if (e.kind === 'any') return 'any';
  if (e.kind === 'interface') {
    const v = t.vnics.find((x) => x.id === e.id);
    if (!v) throw new Error(`route ${routeIdx} names interface ${e.id}, which the daemon does not know`);
    return `interface ${v.mac}`;
  }
  if (e.id === LOCAL_NETWORK_LINK) return 'edge local';
  const l = t.links.find((x) => x.idx === e.id);
  if (!l) throw new Error(`route ${routeIdx} names link ${e.id}, which is not in the links table`);
  return `edge ${l.ip}`;
}

/** The route table as route-file lines, oldest first, which parse back to the same routes. */
export function printRoutes(t: Pick<ControlTables, 'routes' | 'links' | 'vnics'>): string {
  return t.routes
    .map((r) => `add ${printMacMatch(r.route.srcMac)} ${printMacMatch(r.route.dstMac)} ${printEndpoint(t, r.route.dest, r.idx)} ${printEndpoint(t, r.route.from, r.idx)}\n`)
    .join('');
}

/** The link table as link-file lines, oldest first. */
export function printLinks(t: Pick<ControlTables, 'links'>): string {
  return t.links.map((l) => `add ${l.ip} ${l.port}\n`).join('');
}

// ---- machine -------------------------------------------------------------------------------------

export const params = {
  maxLineLength: {
    kind: 'number',
    default: DEFAULT_MAX_LINE_LENGTH,
    // The longest route line the printer writes (two not-MACs, two interfaces) is 103 characters.
    min: 128,
    max: 65535,
    integer: true,
    unit: 'characters',
    description:
      'Longest accepted line. The original refused any write of 256 bytes or more; here batches may be long and the limit applies per line.',
    source: 'palacios-notes.md §5.1',
  },
} as const;

export type Params = ParamsOf<typeof params>;
export type Input = Partial<Params>;

export function checkInput(input: unknown): Params {
  return checkParams('control', params, input);
}

export interface Stats {
  batchesApplied: number;
  batchesRejected: number;
  changesApplied: number;
  /** Changes in the latest applied batch. */
  lastBatchSize: number;
  vnicsRefused: number;
}

export interface Context {
  readonly p: Params;
  /** The route table as the daemon sees it, oldest first (the core holds the same routes). */
  routes: ControlRoute[];
  /** The link table (the bridge holds the same links). */
  links: Link[];
  /** vNICs registered with the core now, and those that were (kept to print routes naming them). */
  vnics: Vnic[];
  nextRouteIdx: number;
  nextLinkIdx: number;
  /** The error of the latest rejected batch. */
  lastError: ControlError | null;
  stats: Stats;
}

export type Event =
  /** A batch of text written to the route or link file. */
  | { type: 'control.apply'; kind: ControlKind; text: string }
  /** A vNIC registered with the core: its interface id and MAC. */
  | { type: 'vnic.register'; id: number; mac: Mac }
  /** A vNIC left the core. */
  | { type: 'vnic.unregister'; id: number };

export type Emitted =
  | Change
  /** Every line of the batch was valid and its changes were emitted, in order. */
  | { type: 'control.applied'; kind: ControlKind; changes: number }
  /** The batch was refused and nothing changed. */
  | { type: 'control.rejected'; kind: unknown; error: ControlError }
  /** A registration contradicting a known vNIC (same MAC as a present one, or a known id with another MAC). */
  | { type: 'vnic.refused'; id: number; mac: string; reason: string };

export function initialContext(p: Params): Context {
  return {
    p,
    routes: [],
    links: [],
    vnics: [],
    nextRouteIdx: 1,
    nextLinkIdx: 1,
    lastError: null,
    stats: { batchesApplied: 0, batchesRejected: 0, changesApplied: 0, lastBatchSize: 0, vnicsRefused: 0 },
  };
}

const parseEvent = (c: Context, e: Event): ParseResult =>
  e.type === 'control.apply'
    ? parseControl(e.text, e.kind, c, { maxLineLength: c.p.maxLineLength })
    : { ok: false, error: { line: 1, column: 1, expected: 'a batch', found: e.type, message: 'not a batch' } };

function registrationProblem(c: Context, e: Event): string | undefined {
  if (e.type !== 'vnic.register') return 'not a registration';
  if (!Number.isInteger(e.id) || e.id < 1) return `interface id ${String(e.id)} is not a positive integer`;
  if (!isMac(e.mac)) return `${String(e.mac)} is not a canonical MAC`;
  const known = c.vnics.find((v) => v.id === e.id);
  if (known && known.mac !== e.mac) return `interface ${e.id} was registered with MAC ${known.mac}`;
  const clash = c.vnics.find((v) => v.present && v.id !== e.id && v.mac === e.mac);
  if (clash) return `interface ${clash.id} already has MAC ${e.mac}`;
  return undefined;
}

const src = (source: string) => ({ source });

export const controlMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as Input | undefined,
    emitted: {} as Emitted,
    meta: {} as { source: string },
  },
  guards: {
    /** Every line of the batch parses and passes the checks against the tables. */
    batchValid: ({ context, event }) => parseEvent(context, event).ok,
    registrationConsistent: ({ context, event }) => registrationProblem(context, event) === undefined,
  },
  actions: {
    applyBatch: enqueueActions(({ context, event, enqueue }) => {
      const r = parseEvent(context, event);
      if (!r.ok || event.type !== 'control.apply') return;
      enqueue.assign({
        routes: [...r.tables.routes],
        links: [...r.tables.links],
        nextRouteIdx: r.tables.nextRouteIdx,
        nextLinkIdx: r.tables.nextLinkIdx,
        stats: {
          ...context.stats,
          batchesApplied: context.stats.batchesApplied + 1,
          changesApplied: context.stats.changesApplied + r.changes.length,
          lastBatchSize: r.changes.length,
        },
      });
      for (const c of r.changes) enqueue.emit(c);
      enqueue.emit({ type: 'control.applied', kind: event.kind, changes: r.changes.length });
    }),
    rejectBatch: enqueueActions(({ context, event, enqueue }) => {
      const r = parseEvent(context, event);
      if (r.ok) return;
      enqueue.assign({ lastError: r.error, stats: { ...context.stats, batchesRejected: context.stats.batchesRejected + 1 } });
      enqueue.emit({ type: 'control.rejected', kind: event.type === 'control.apply' ? event.kind : undefined, error: r.error });
    }),
    registerVnic: assign(({ context, event }) => {
      if (event.type !== 'vnic.register') return {};
      const rest = context.vnics.filter((v) => v.id !== event.id);
      return { vnics: [...rest, { id: event.id, mac: event.mac, present: true }].sort((a, b) => a.id - b.id) };
    }),
    refuseVnic: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'vnic.register') return;
      enqueue.assign({ stats: { ...context.stats, vnicsRefused: context.stats.vnicsRefused + 1 } });
      enqueue.emit({ type: 'vnic.refused', id: event.id, mac: String(event.mac), reason: registrationProblem(context, event) ?? '' });
    }),
    unregisterVnic: assign(({ context, event }) => {
      if (event.type !== 'vnic.unregister') return {};
      return { vnics: context.vnics.map((v) => (v.id === event.id ? { ...v, present: false } : v)) };
    }),
  },
}).createMachine({
  id: 'control',
  description:
    'The VNET/P control daemon: checks batches of route and link commands against its tables and, only if every line is valid, hands the changes to the core and the bridge.',
  meta: src('§5.1.5; palacios-notes.md §5'),
  context: ({ input }) => initialContext(checkInput(input)),
  on: {
    'control.apply': [
      {
        guard: 'batchValid',
        actions: 'applyBatch',
        description: 'Every line is valid: update the tables and emit the route and link changes in order, then control.applied.',
        meta: src('§5.1.5 (validity checking before transfer to the core); palacios-notes.md §5.2, §5.3'),
      },
      {
        actions: 'rejectBatch',
        description: 'Some line is invalid: change nothing and report the first error with its line, column, expectation and finding.',
        meta: src('§5.1.5; palacios-notes.md §5.1 (the original kept earlier lines: no rollback)'),
      },
    ],
    'vnic.register': [
      {
        guard: 'registrationConsistent',
        actions: 'registerVnic',
        description: 'A vNIC registered with the core: routes may now name it by its MAC.',
        meta: src('§5.1.3; palacios-notes.md §5.2 (DST-ID of an interface is a registered device MAC)'),
      },
      {
        actions: 'refuseVnic',
        description: 'A registration with the MAC of a present vNIC, or a known id with another MAC, is refused (the core refuses duplicate MACs).',
        meta: src('palacios-notes.md §1.2 (v3_vnet_add_dev rejects a second device with the same MAC)'),
      },
    ],
    'vnic.unregister': {
      actions: 'unregisterVnic',
      description: 'A vNIC left the core: new routes cannot name it; existing routes keep its id and MAC for printing.',
      meta: src('palacios-notes.md §1.2 (v3_vnet_del_dev leaves routes)'),
    },
  },
});

export type ControlMachine = typeof controlMachine;

// ---- catalog entry -------------------------------------------------------------------------------

type Snap = SnapshotFrom<ControlMachine>;

export const invariants: readonly Invariant<Snap>[] = [
  {
    name: 'routes-name-known-endpoints',
    description:
      'Every link a route names (as destination or source) is in the links table or is the local network, and every interface it names is a vNIC the daemon knows: no route dangles.',
    source: '§5.1.5; palacios-notes.md §5.2, §5.3',
    check: (s) => {
      const c = s.context;
      for (const r of c.routes) {
        for (const e of [r.route.dest, r.route.from]) {
          if (e.kind === 'link' && e.id !== LOCAL_NETWORK_LINK && !c.links.some((l) => l.idx === e.id))
            return `route ${r.idx} names link ${e.id}, which is not in the links table`;
          if (e.kind === 'interface' && !c.vnics.some((v) => v.id === e.id))
            return `route ${r.idx} names interface ${e.id}, which the daemon does not know`;
        }
      }
      return undefined;
    },
    witness: {
      name: 'route-over-overlay-link',
      description: 'A route sometimes sends over an overlay link.',
      reached: (s) => s.context.routes.some((r) => r.route.dest.kind === 'link' && r.route.dest.id !== LOCAL_NETWORK_LINK),
    },
  },
  {
    name: 'indices-ascend-never-reused',
    description: 'Route and link indices strictly ascend by age and stay below the next index to be handed out: none is reused.',
    source: 'palacios-notes.md §1.2, §4',
    check: (s) => {
      const c = s.context;
      const tables: [string, readonly { idx: number }[], number][] = [
        ['route', c.routes, c.nextRouteIdx],
        ['link', c.links, c.nextLinkIdx],
      ];
      for (const [what, xs, next] of tables) {
        let prev = 0;
        for (const x of xs) {
          if (x.idx <= prev || x.idx >= next) return `${what} index ${x.idx} after ${prev} (next to hand out ${next})`;
          prev = x.idx;
        }
      }
      return undefined;
    },
    witness: {
      name: 'route-index-gap',
      description: 'A route is sometimes deleted while a newer one remains.',
      reached: (s) => s.context.routes.some((r, i) => r.idx !== i + 1),
    },
  },
  {
    name: 'link-ips-unique',
    description: 'No two links connect to the same IP, so a route or a received datagram names exactly one link.',
    source: 'palacios-notes.md §4 (receive side matches links by source IP only), §5.2',
    check: (s) => {
      const ips = s.context.links.map((l) => l.ip);
      const dup = ips.find((ip, i) => ips.indexOf(ip) !== i);
      return dup === undefined ? undefined : `two links connect to ${dup}`;
    },
    witness: {
      name: 'two-links',
      description: 'The links table sometimes holds two links.',
      reached: (s) => s.context.links.length >= 2,
    },
  },
];

export const witnesses: readonly Witness<Snap>[] = [
  { name: 'batch-rejected', description: 'A batch is sometimes rejected.', reached: (s) => s.context.stats.batchesRejected > 0 },
  {
    name: 'multi-line-batch-applied',
    description: 'A batch of several lines is sometimes applied as one.',
    reached: (s) => s.context.stats.lastBatchSize >= 2,
  },
  {
    name: 'interface-sourced-route',
    description: 'A route with an interface source is sometimes entered (impossible in the original).',
    reached: (s) => s.context.routes.some((r) => r.route.from.kind === 'interface'),
  },
  {
    name: 'link-in-use-refused',
    description: 'Deleting a link a route uses is sometimes refused.',
    reached: (s) => s.context.lastError?.expected === EXPECT.unusedLink,
  },
  {
    name: 'route-to-departed-vnic',
    description: 'A route sometimes names a vNIC that has left the core.',
    reached: (s) => s.context.routes.some((r) => r.route.dest.kind === 'interface' && !s.context.vnics.some((v) => v.id === (r.route.dest as { id: number }).id && v.present)),
  },
  { name: 'vnic-refused', description: 'A contradictory vNIC registration is sometimes refused.', reached: (s) => s.context.stats.vnicsRefused > 0 },
];

/** The vNIC and links the exploration alphabet uses. */
export const SAMPLE_VNIC = { id: 1, mac: '02:00:00:00:00:01' } as const;
const IP1 = '10.0.0.1';
const IP2 = '10.0.0.2';
const M = SAMPLE_VNIC.mac;

export function explorationEvents(s: Snap): Event[] {
  const c = s.context;
  const ev: Event[] = [];
  const present = c.vnics.some((v) => v.id === SAMPLE_VNIC.id && v.present);
  ev.push(present ? { type: 'vnic.unregister', id: SAMPLE_VNIC.id } : { type: 'vnic.register', ...SAMPLE_VNIC });
  if (present) ev.push({ type: 'vnic.register', id: 2, mac: M });
  if (c.links.length < 2) {
    ev.push({ type: 'control.apply', kind: 'links', text: `add ${IP1} 9000` });
    ev.push({ type: 'control.apply', kind: 'links', text: `ADD  ${IP2}\t9000 udp` });
  }
  for (const l of c.links) ev.push({ type: 'control.apply', kind: 'links', text: `del ${l.idx}` });
  if (c.routes.length < 2) {
    ev.push({ type: 'control.apply', kind: 'routes', text: `add any ${M} interface ${M} any` });
    ev.push({ type: 'control.apply', kind: 'routes', text: `add ${M} not-${M} edge ${IP1} interface ${M}` });
    ev.push({ type: 'control.apply', kind: 'routes', text: `add any any edge local any\r\n\r\nadd none any edge ${IP2} edge local` });
  }
  // Invalid: a keyword prefix the original took for "any"; a batch whose second line is bad.
  ev.push({ type: 'control.apply', kind: 'routes', text: `add an any edge local any` });
  ev.push({ type: 'control.apply', kind: 'routes', text: `add any any edge local any\ndelete 1` });
  for (const r of c.routes) ev.push({ type: 'control.apply', kind: 'routes', text: `del ${r.idx}` });
  return ev;
}

/** A finite key: tables by age with indices dropped and links named by IP; vNICs. */
export function serializeState(s: Snap): string {
  const c = s.context;
  const ipOf = (e: RouteOrigin) => (e.kind === 'link' && e.id !== LOCAL_NETWORK_LINK ? { kind: 'link', ip: c.links.find((l) => l.idx === e.id)?.ip ?? '?' } : e);
  return JSON.stringify([
    c.links.map((l) => [l.ip, l.port]),
    c.routes.map((r) => [r.route.srcMac, r.route.dstMac, ipOf(r.route.dest), ipOf(r.route.from)]),
    c.vnics,
  ]);
}

export const entry = defineEntry({
  id: 'control',
  title: 'VNET/P control language (route and link files)',
  summary:
    'The control daemon reads the text commands of the original route and link files: routes `add SRC-MAC DST-MAC ' +
    'DST-TYPE DST-ID SRC-TYPE [SRC-ID]` and `del IDX`; links `add IP PORT [udp]` and `del IDX`. A batch is checked ' +
    'line by line against the daemon\'s link table, route table and registered vNICs (a route names a vNIC by MAC and ' +
    'a link by IP, or `edge local` for the local network) and applied all or nothing: on success the route changes go ' +
    'to the core and the link changes to the bridge, in order; on failure nothing changes and the error gives the line, ' +
    'the column, what was expected and what was found. Where the original mangles input this language rejects it: ' +
    'keyword prefixes (`a`, `an`, `non`, `addroute`, `delete`, `interfaces`), unparsable MACs and IPs (the original ' +
    'entered dead or half-filled routes), trailing tokens, unknown commands and `del` indices, ports outside 1-65535, ' +
    '`tcp`, a second link to the same IP, deleting a link a route uses, lines longer than maxLineLength or with ' +
    'non-printable characters; and it accepts correctly what the original could not: interface-sourced routes, ' +
    'keywords in any case, blank lines, several blanks between tokens. A rejected batch applies no line (the original ' +
    'kept earlier lines).',
  source: ['§5.1.5', '§5.1.2', 'palacios-notes.md §5'],
  machine: controlMachine,
  params,
  checkInput,
  samples: [{ name: 'one-vnic-two-links', input: {} }],
  invariants,
  witnesses,
  events: explorationEvents,
  serializeState,
  accepts: [
    { type: 'control.apply', description: 'A batch of text for the route file (kind routes) or the link file (kind links).' },
    { type: 'vnic.register', description: 'A vNIC registered with the core under an interface id and a MAC.' },
    { type: 'vnic.unregister', description: 'A vNIC left the core.' },
  ],
  emits: [
    { type: 'route.add', description: 'For the core: add this route; the core gives it index idx.' },
    { type: 'route.del', description: 'For the core: delete route idx.' },
    { type: 'link.add', description: 'For the bridge: add a UDP link to IP:port under index id.' },
    { type: 'link.del', description: 'For the bridge: delete link id.' },
    { type: 'control.applied', description: 'The whole batch was valid and its changes were emitted.' },
    { type: 'control.rejected', description: 'The batch was refused and nothing changed; the error gives line, column, expected and found.' },
    { type: 'vnic.refused', description: 'A registration contradicting a known vNIC was refused.' },
  ],
});
