/**
 * Table-driven: each way the original control files mangle input (palacios-notes.md §5) is either
 * rejected, at the right line and column, or accepted correctly. Each case says what the original
 * did. The tables the batches are checked against are fixed: vNICs 1 and 2, links 1 and 2, route 1
 * using link 1, routes 2 and 3 already deleted.
 */
import { describe, expect, test } from 'vitest';
import { parseControl, printMacMatch, type Change, type ControlKind, type ControlTables } from '../machines/control.js';

const V1 = '02:00:00:00:00:01';
const V2 = '02:00:00:00:00:02';

const tables: ControlTables = {
  vnics: [
    { id: 1, mac: V1, present: true },
    { id: 2, mac: V2, present: true },
    { id: 3, mac: '02:00:00:00:00:03', present: false },
  ],
  links: [
    { idx: 1, ip: '10.0.0.1', port: 9000 },
    { idx: 2, ip: '10.0.0.2', port: 9000 },
  ],
  routes: [{ idx: 1, route: { srcMac: { kind: 'any' }, dstMac: { kind: 'any' }, dest: { kind: 'link', id: 1 }, from: { kind: 'any' } } }],
  nextRouteIdx: 4,
  nextLinkIdx: 3,
};

type Case =
  | { kind: ControlKind; text: string; original: string; rejectAt: [line: number, column: number]; expected?: string }
  | { kind: ControlKind; text: string; original: string; changes: string[] };

const show = (c: Change): string => {
  const ep = (e: { kind: string; id?: number }) => (e.kind === 'any' ? 'any' : `${e.kind} ${e.id}`);
  switch (c.type) {
    case 'route.add':
      return `route.add ${c.idx}: ${printMacMatch(c.route.srcMac)} ${printMacMatch(c.route.dstMac)} -> ${ep(c.route.dest)} from ${ep(c.route.from)}`;
    case 'link.add':
      return `link.add ${c.id}: ${c.ip}:${c.port}/${c.proto}`;
    case 'link.del':
      return `link.del ${c.id}`;
    default:
      return `${c.type} ${c.idx}`;
  }
};

const long = `add any any edge local any${' '.repeat(230)}`;

const cases: Case[] = [
  // ---- route file: rejected --------------------------------------------------------------------
  { kind: 'routes', text: 'addroute any any edge local any', original: 'accepted as add (first three letters)', rejectAt: [1, 1], expected: '"add" or "del"' },
  { kind: 'routes', text: 'delete 1', original: 'accepted as del', rejectAt: [1, 1] },
  { kind: 'routes', text: 'ad any any edge local any', original: 'skipped silently', rejectAt: [1, 1] },
  { kind: 'routes', text: 'frobnicate', original: 'logged and skipped; the write succeeded', rejectAt: [1, 1] },
  { kind: 'routes', text: 'add a any edge local any', original: '"a" is a prefix of "any": MAC_ANY', rejectAt: [1, 5], expected: 'a MAC qualifier' },
  { kind: 'routes', text: 'add an any edge local any', original: 'MAC_ANY', rejectAt: [1, 5] },
  { kind: 'routes', text: 'add any n edge local any', original: '"n" is a prefix of "none": MAC_NONE', rejectAt: [1, 9] },
  { kind: 'routes', text: 'add non any edge local any', original: 'MAC_NONE', rejectAt: [1, 5] },
  { kind: 'routes', text: 'add bogus any edge local any', original: 'qualifier NOSET: a route that never matches', rejectAt: [1, 5] },
  { kind: 'routes', text: `add bogus-${V1} any edge local any`, original: 'qualifier NOSET', rejectAt: [1, 5] },
  { kind: 'routes', text: 'add 02:00:00:00:01 any edge local any', original: 'MAC_ADDR with the missing octet 0', rejectAt: [1, 5] },
  { kind: 'routes', text: `add ${V1}:07 any edge local any`, original: 'extra octets ignored', rejectAt: [1, 5] },
  { kind: 'routes', text: 'add 0g:00:00:00:00:01 any edge local any', original: 'strtol stops at g: octet 0', rejectAt: [1, 5] },
  { kind: 'routes', text: 'add not-zz any edge local any', original: 'MAC_NOT 00:00:00:00:00:00', rejectAt: [1, 9], expected: 'a MAC such as 02:00:00:00:00:01 after not-' },
  { kind: 'routes', text: 'add not- any edge local any', original: 'MAC_NOT 00:00:00:00:00:00', rejectAt: [1, 9] },
  { kind: 'routes', text: `add any any inter ${V1} any`, original: 'rejected', rejectAt: [1, 13], expected: 'a destination type: interface or edge' },
  { kind: 'routes', text: `add any any interfaces ${V1} any`, original: 'accepted as interface', rejectAt: [1, 13] },
  { kind: 'routes', text: 'add any any link 1 any', original: 'rejected', rejectAt: [1, 13] },
  { kind: 'routes', text: 'add any any edge 10.0.0 any', original: 'unparsable IP: a half-filled route with dst_id 0 injected', rejectAt: [1, 18], expected: 'the IPv4 address of a link in the links table, or local' },
  { kind: 'routes', text: 'add any any edge 10.0.0.256 any', original: 'half-filled route injected', rejectAt: [1, 18] },
  { kind: 'routes', text: 'add any any edge 010.0.0.1 any', original: 'in4_pton-dependent', rejectAt: [1, 18] },
  { kind: 'routes', text: 'add any any edge 10.0.0.9 any', original: 'rejected (no such link)', rejectAt: [1, 18] },
  { kind: 'routes', text: 'add any any interface 02:00:00:00:00:09 any', original: 'rejected (no such device)', rejectAt: [1, 23], expected: 'the MAC of a registered vNIC' },
  { kind: 'routes', text: 'add any any interface 02:00:00:00:00:03 any', original: 'rejected (device gone)', rejectAt: [1, 23] },
  { kind: 'routes', text: 'add any any edge local edge 1.2.3', original: 'src_type EDGE, src_id -1 injected', rejectAt: [1, 29] },
  { kind: 'routes', text: 'add any any edge local', original: 'rejected', rejectAt: [1, 23], expected: 'a source type: any, interface or edge' },
  { kind: 'routes', text: 'add any any edge local interface', original: 'rejected', rejectAt: [1, 33], expected: 'the MAC of a registered vNIC' },
  { kind: 'routes', text: 'add any any edge local any 1.2.3.4', original: 'trailing tokens ignored', rejectAt: [1, 28], expected: 'end of line' },
  { kind: 'routes', text: 'add any any edge local anything', original: 'accepted as any: a type keyword is compared over its own length', rejectAt: [1, 24] },
  { kind: 'routes', text: 'del', original: '-EFAULT', rejectAt: [1, 4], expected: 'the index of a route in the table' },
  { kind: 'routes', text: 'del x', original: 'non-numeric index read as 0; ignored', rejectAt: [1, 5] },
  { kind: 'routes', text: 'del 2', original: 'unknown index silently ignored', rejectAt: [1, 5] },
  { kind: 'routes', text: 'del 1 2', original: 'trailing token ignored', rejectAt: [1, 7] },
  { kind: 'routes', text: long, original: 'a write of 256 bytes or more refused', rejectAt: [1, 256], expected: 'at most 255 characters on a line' },
  { kind: 'routes', text: 'add any any edge\0local any', original: 'the NUL ends the string', rejectAt: [1, 17], expected: 'printable ASCII, spaces and tabs' },
  { kind: 'routes', text: 'add any any edge local any\n   \nadd any bogus edge local any', original: 'the first line stays applied', rejectAt: [3, 9] },
  { kind: 'routes', text: 'add any any edge local any\r\ndel 4\r\ndel 4', original: 'unknown index ignored', rejectAt: [3, 5] },
  // ---- route file: accepted correctly ----------------------------------------------------------
  {
    kind: 'routes',
    text: `add any any interface ${V1} interface ${V2}`,
    original: 'impossible: the type token itself was parsed as the MAC',
    changes: ['route.add 4: any any -> interface 1 from interface 2'],
  },
  { kind: 'routes', text: `ADD Any NONE Interface ${V1} ANY`, original: 'accepted', changes: ['route.add 4: any none -> interface 1 from any'] },
  { kind: 'routes', text: 'add 2:0:0:0:0:A not-FF:ff:ff:ff:ff:ff edge local any', original: 'accepted', changes: ['route.add 4: 02:00:00:00:00:0a not-ff:ff:ff:ff:ff:ff -> link 0 from any'] },
  {
    kind: 'routes',
    text: '\n   \n\tadd  any\tany edge  10.0.0.2 edge 10.0.0.1\n',
    original: 'a line of blanks aborted the write with -EFAULT',
    changes: ['route.add 4: any any -> link 2 from link 1'],
  },
  { kind: 'routes', text: 'add any any edge local any\ndel 4\ndel 1', original: 'accepted', changes: ['route.add 4: any any -> link 0 from any', 'route.del 4', 'route.del 1'] },
  { kind: 'routes', text: '', original: 'nothing', changes: [] },
  // ---- link file: rejected ---------------------------------------------------------------------
  { kind: 'links', text: 'add 10.0.0.3', original: '-EFAULT', rejectAt: [1, 13], expected: 'a UDP port from 1 to 65535' },
  { kind: 'links', text: 'add 10.0.0.3 0', original: 'port 0 accepted', rejectAt: [1, 14] },
  { kind: 'links', text: 'add 10.0.0.3 65536', original: 'truncated to port 0', rejectAt: [1, 14] },
  { kind: 'links', text: 'add 10.0.0.3 9x', original: 'strtol reads 9', rejectAt: [1, 14] },
  { kind: 'links', text: 'add 10.0.0.3 9000 tcp', original: 'ignored: always UDP', rejectAt: [1, 19], expected: '"udp" or end of line' },
  { kind: 'links', text: 'add 10.0.0.3 9000 udp extra', original: 'ignored', rejectAt: [1, 23] },
  { kind: 'links', text: 'add 10.0.0 9000', original: '-EFAULT', rejectAt: [1, 5], expected: 'an IPv4 address such as 10.0.0.1' },
  { kind: 'links', text: 'add 10.0.0.1 9001', original: 'a second link to the IP; the newest wins lookups by IP', rejectAt: [1, 5], expected: 'an IPv4 address no link has yet' },
  { kind: 'links', text: 'del 1', original: 'deleted; route 1 then drops at the bridge and its printing dereferences NULL', rejectAt: [1, 5], expected: 'a link no route uses' },
  { kind: 'links', text: 'del 7', original: 'ignored', rejectAt: [1, 5] },
  { kind: 'links', text: 'add 10.0.0.3 9000\nadd 10.0.0.3 9001', original: 'the first line stays applied', rejectAt: [2, 5] },
  // ---- link file: accepted correctly -----------------------------------------------------------
  { kind: 'links', text: 'add 10.0.0.3  9000', original: 'two spaces: port 0', changes: ['link.add 3: 10.0.0.3:9000/udp'] },
  { kind: 'links', text: 'ADD 10.0.0.3 9000 UDP', original: 'accepted', changes: ['link.add 3: 10.0.0.3:9000/udp'] },
  { kind: 'links', text: 'del 2\nadd 10.0.0.2 7000', original: 'accepted', changes: ['link.del 2', 'link.add 3: 10.0.0.2:7000/udp'] },
];

describe('the control language rejects or fixes each quirk of the original (palacios-notes.md §5)', () => {
  test.each(cases.map((c) => [`${c.kind}: ${JSON.stringify(c.text).slice(0, 70)}`, c] as const))('%s', (_name, c) => {
    const r = parseControl(c.text, c.kind, tables);
    if ('rejectAt' in c) {
      expect(r.ok, `accepted; the original: ${c.original}`).toBe(false);
      if (r.ok) return;
      expect([r.error.line, r.error.column], r.error.message).toEqual(c.rejectAt);
      if (c.expected) expect(r.error.expected).toContain(c.expected);
      expect(r.error.message).toContain(`line ${c.rejectAt[0]}, column ${c.rejectAt[1]}`);
    } else {
      expect(r.ok, r.ok ? '' : r.error.message).toBe(true);
      if (r.ok) expect(r.changes.map(show)).toEqual(c.changes);
    }
  });
});
