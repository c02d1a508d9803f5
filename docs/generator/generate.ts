/**
 * Writes the protocol documentation from the machine catalog: `docs/index.md`,
 * `docs/configurations.md` and one `docs/machines/<id>.md` per catalog machine.
 *
 *     tsx docs/generator/generate.ts           write the pages (and remove pages of machines
 *                                              no longer in the catalog)
 *     tsx docs/generator/generate.ts --check   write nothing; exit 1 naming every page that
 *                                              differs from what would be written, or that
 *                                              belongs to no catalog machine
 *
 * The pages are committed so that they render where the repository is read; `npm test` runs the
 * check, so a machine change that is not followed by `npm run docs` fails.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { catalog, machineIds } from '../../machines/index.js';
import { configurationsPage, indexPage, machinePage, type ConfigurationDoc, type StateSpace } from './pages.js';

/** The repository root (this file is `docs/generator/generate.ts`). */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

const MACHINE_DIR = 'docs/machines';

/** The configurations `model/configurations.ts` exports, or `undefined` while it does not exist. */
async function loadConfigurations(root: string): Promise<ConfigurationDoc[] | undefined> {
  const file = join(root, 'model', 'configurations.ts');
  if (!existsSync(file)) return undefined;
  const mod = (await import(pathToFileURL(file).href)) as { configurations?: unknown };
  const list = mod.configurations;
  if (!Array.isArray(list)) throw new Error('model/configurations.ts must export `configurations`, a list');
  return list.map((c: unknown, i) => {
    const o = (c ?? {}) as Record<string, unknown>;
    const text = (k: string) => {
      if (typeof o[k] !== 'string') throw new Error(`model/configurations.ts: configurations[${i}].${k} must be a string`);
      return o[k] as string;
    };
    // Machines may be listed by id or as objects carrying one.
    const machines = o.machines;
    if (!Array.isArray(machines)) throw new Error(`model/configurations.ts: configurations[${i}].machines must be a list of machine ids`);
    return {
      id: text('id'),
      title: text('title'),
      description: text('description'),
      machines: machines.map((x: unknown) => (typeof x === 'string' ? x : String((x as { id?: unknown })?.id))),
    };
  });
}

/** Every generated page, by path relative to the repository root (with `/`), in a fixed order. */
export async function generatePages(root: string = repoRoot): Promise<Map<string, string>> {
  const pinned = JSON.parse(readFileSync(join(root, 'properties', 'state-space.json'), 'utf8')) as StateSpace;
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { description?: string };
  const entries = machineIds.map((id) => catalog[id]);
  const pages = new Map<string, string>();
  pages.set('docs/index.md', indexPage(entries, pkg.description ?? ''));
  pages.set('docs/configurations.md', configurationsPage(await loadConfigurations(root), machineIds));
  for (const e of entries) pages.set(`${MACHINE_DIR}/${e.id}.md`, machinePage(e, pinned));
  return pages;
}

/** Machine pages on disk that no catalog machine generates. */
function orphanPages(root: string, pages: Map<string, string>): string[] {
  const dir = join(root, MACHINE_DIR);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.md'))
    .map((f) => `${MACHINE_DIR}/${f}`)
    .filter((p) => !pages.has(p))
    .sort();
}

/** Pages whose file is missing or differs from the generated text. */
function stalePages(root: string, pages: Map<string, string>): string[] {
  return [...pages].filter(([p, text]) => {
    const file = join(root, p);
    return !existsSync(file) || readFileSync(file, 'utf8') !== text;
  }).map(([p]) => p);
}

/** Compares the committed pages with the generated ones; returns the number of problems. */
export async function checkDocs(root: string = repoRoot, log: (line: string) => void = console.log): Promise<number> {
  const pages = await generatePages(root);
  const stale = stalePages(root, pages);
  const orphans = orphanPages(root, pages);
  for (const p of stale) {
    log(`docs:check: ${p} ${existsSync(join(root, p)) ? 'is stale (differs from what the generator writes now)' : 'is missing'}`);
  }
  for (const p of orphans) log(`docs:check: ${p} documents a machine that is not in the catalog`);
  const problems = stale.length + orphans.length;
  if (problems > 0) log(`docs:check: ${problems} page(s) out of date; run \`npm run docs\` and commit the result`);
  else log(`docs:check: ${pages.size} pages up to date`);
  return problems;
}

/** Writes the pages that changed and removes orphaned machine pages. */
export async function writeDocs(root: string = repoRoot, log: (line: string) => void = console.log): Promise<void> {
  const pages = await generatePages(root);
  const stale = new Set(stalePages(root, pages));
  for (const [p, text] of pages) {
    if (!stale.has(p)) continue;
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
    log(`docs: wrote ${p}`);
  }
  for (const p of orphanPages(root, pages)) {
    rmSync(join(root, p));
    log(`docs: removed ${p} (no such machine in the catalog)`);
  }
  log(`docs: ${pages.size} pages, ${stale.size} changed`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const check = process.argv.includes('--check');
  if (check) process.exitCode = (await checkDocs()) > 0 ? 1 : 0;
  else await writeDocs();
}
