/**
 * The documentation generator (docs/generator/): escaping, the diagram's shape, determinism and
 * the staleness check. That the diagrams render is checked in a browser by `npm run test:browser`.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { stateDiagram } from '../docs/generator/diagram.js';
import { escapingFixture } from '../docs/generator/escaping-fixture.js';
import { checkDocs, generatePages, repoRoot, writeDocs } from '../docs/generator/generate.js';
import { code, mermaidText, plain, proseCell, table } from '../docs/generator/markdown.js';
import { configurationsPage, plannedConfigurations } from '../docs/generator/pages.js';
import { machineIds } from '../machines/index.js';
import { stateNodes, transitions } from '../model/introspect.js';

/** The cells of a GFM table row, split at unescaped pipes as GitHub and markdown-it do. */
const cells = (row: string): string[] => row.replace(/^\| | \|$/g, '').split(/(?<!\\)\|/);

describe('Markdown escaping', () => {
  test('a pipe never ends a cell early, in prose, in code spans or in plain text', () => {
    const row = table(['a', 'b', 'c'], [[proseCell('x | y `p|q`'), code('a|b'), plain('m|n')]]).split('\n')[2];
    expect(cells(row)).toHaveLength(3);
  });

  test('a tag opener is escaped in prose but kept inside code spans', () => {
    expect(proseCell('alpha <b>bold</b> `a<b>`')).toBe('alpha \\<b>bold\\</b> `a<b>`');
    expect(proseCell('a < b')).toBe('a < b');
  });

  test('plain text has every Markdown specials escaped, and cells are one line', () => {
    expect(plain('a_b *c* [d] `e`')).toBe('a\\_b \\*c\\* \\[d\\] \\`e\\`');
    expect(proseCell('one\ntwo')).toBe('one two');
  });

  test('a code span is fenced longer than any backtick run inside it', () => {
    expect(code('a`b')).toBe('``a`b``');
    expect(code('`x`')).toBe('`` `x` ``');
  });

  test('Mermaid text keeps no character Mermaid could read as syntax', () => {
    const out = mermaidText('a;b:c#d"e<f>g&h{i}j%k|l\\m`n');
    expect(out.replace(/#(\d+|[a-z]+);/g, '')).toMatch(/^[a-n]+$/);
  });
});

describe('state diagram', () => {
  const diagram = stateDiagram(escapingFixture);
  const lines = diagram.split('\n');

  test('declares every state node once, and balances its composite states', () => {
    const declared = lines.filter((l) => /^\s*state "/.test(l));
    expect(declared).toHaveLength(stateNodes(escapingFixture).length);
    expect(lines.filter((l) => l.trim().endsWith('{'))).toHaveLength(lines.filter((l) => l.trim() === '}').length);
  });

  test('names each state last inside its own composite, so that Mermaid keeps it there', () => {
    // Mermaid puts a state in the composite where a line names it last.
    const stack: string[] = ['(top)'];
    const declaredIn = new Map<string, string>();
    const lastNamedIn = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const t = l.trim();
      const decl = /^state "[^"]*" as (\S+)( \{)?$/.exec(t);
      const rel = /^(\S+) --> (\S+)/.exec(t) ?? /^(\S+) : /.exec(t);
      if (decl) {
        declaredIn.set(decl[1], stack[stack.length - 1]);
        lastNamedIn.set(decl[1], stack[stack.length - 1]);
        if (decl[2]) stack.push(decl[1]);
      } else if (t === '}') stack.pop();
      else if (rel) for (const id of rel.slice(1)) if (id && id !== '[*]') lastNamedIn.set(id, stack[stack.length - 1]);
    }
    expect(declaredIn.size).toBe(stateNodes(escapingFixture).length);
    for (const [id, where] of declaredIn) expect(lastNamedIn.get(id), id).toBe(where);
  });

  test('separates the regions of a parallel state', () => {
    const run = lines.findIndex((l) => l.includes('as s_run {'));
    const right = lines.findIndex((l) => l.includes('as s_run_right {'));
    expect(lines.slice(run, right).some((l) => l.trim() === '--')).toBe(true);
  });

  test('shows every event, and no line holds an unescaped separator', () => {
    for (const t of transitions(escapingFixture)) expect(diagram).toContain(mermaidText(t.eventType));
    // The quotes around a state's name are the only syntax a line may hold.
    const text = (l: string) => l.replace(/^(\s*state )"([^"]*)"( as )/, '$1$2$3').replace(/#(\d+|[a-z]+);/g, '');
    for (const l of lines.slice(1)) expect(text(l)).not.toMatch(/[;#"]/);
  });

  test('collapses transitions between the same states on the same event into one guard', () => {
    const edge = lines.find((l) => l.includes('s_run_right_r1 --> s_run_right_r2'));
    const labels = edge?.split(' : ')[1].split('<br/>');
    expect(labels).toEqual([
      mermaidText('<script>'),
      mermaidText('absorb [ok]'),
      mermaidText('factor [and(ok, or(a<b, q"r))]'),
    ]);
  });
});

describe('generated pages', () => {
  let tmp: string | undefined;
  afterEach(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    tmp = undefined;
  });

  test('are the same bytes on every run, one page per catalog machine', async () => {
    const a = await generatePages();
    const b = await generatePages();
    expect([...a]).toEqual([...b]);
    for (const id of machineIds) expect(a.has(`docs/machines/${id}.md`)).toBe(true);
    expect(a.size).toBe(machineIds.length + 2);
    for (const text of a.values()) expect(text).not.toMatch(/\b(19|20)\d\d-\d\d-\d\d\b/);
  });

  test('the check fails on a stale page and on a page of a machine not in the catalog', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'docs-check-'));
    mkdirSync(join(tmp, 'properties'));
    copyFileSync(join(repoRoot, 'package.json'), join(tmp, 'package.json'));
    copyFileSync(join(repoRoot, 'properties', 'state-space.json'), join(tmp, 'properties', 'state-space.json'));
    const quiet = () => {};
    expect(await checkDocs(tmp, quiet)).toBe(machineIds.length + 2);
    await writeDocs(tmp, quiet);
    expect(await checkDocs(tmp, quiet)).toBe(0);
    const page = join(tmp, 'docs', 'machines', `${machineIds[0]}.md`);
    writeFileSync(page, readFileSync(page, 'utf8') + '\nedited by hand\n');
    writeFileSync(join(tmp, 'docs', 'machines', 'no-such-machine.md'), '# gone\n');
    const said: string[] = [];
    expect(await checkDocs(tmp, (l) => said.push(l))).toBe(2);
    expect(said.join('\n')).toContain(`docs/machines/${machineIds[0]}.md`);
    expect(said.join('\n')).toContain('docs/machines/no-such-machine.md');
    await writeDocs(tmp, quiet);
    expect(await checkDocs(tmp, quiet)).toBe(0);
  });

  test('the configurations page lists the planned configurations until the model has its own', () => {
    const planned = configurationsPage(undefined, machineIds);
    for (const id of plannedConfigurations) expect(planned).toContain(`\`${id}\``);
    const built = configurationsPage(
      [{ id: 'vnetp-10g', title: 'VNET/P, 10 Gbps', description: 'A | B', machines: [machineIds[0], 'not-a-machine'] }],
      machineIds,
    );
    expect(built).toContain(`[\`${machineIds[0]}\`](machines/${machineIds[0]}.md)`);
    expect(built).toContain('`not-a-machine` (not in the catalog)');
    expect(built).toContain('A \\| B');
    expect(built).not.toContain('native-ipoib');
  });
});
