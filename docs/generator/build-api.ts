/**
 * Builds the typedoc API site in `docs/api/` (gitignored): the library's modules (`machines/`,
 * `model/`) with the generated protocol pages as project documents (`typedoc.json`), plus
 * Mermaid's browser build copied next to `assets/custom.js` (`site.js`), which loads it
 * from there: the site needs no network.
 *
 *     tsx docs/generator/build-api.ts     (npm run docs:api)
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { checkDocs, repoRoot } from './generate.js';

export const siteDir = join(repoRoot, 'docs', 'api');
const mermaidBuild = join(repoRoot, 'node_modules', 'mermaid', 'dist', 'mermaid.min.js');
const siteMermaid = join(siteDir, 'assets', 'mermaid.min.js');

/** Files the site is built from: when one is newer than the site, the site is rebuilt. */
function inputs(): string[] {
  const files = (dir: string, ext: string) =>
    existsSync(join(repoRoot, dir))
      ? readdirSync(join(repoRoot, dir))
          .filter((f) => f.endsWith(ext))
          .map((f) => join(repoRoot, dir, f))
      : [];
  return [
    ...files('machines', '.ts'),
    ...files('model', '.ts'),
    ...files('docs', '.md'),
    ...files('docs/machines', '.md'),
    join(repoRoot, 'docs', 'generator', 'site.js'),
    join(repoRoot, 'docs', 'generator', 'site.css'),
    join(repoRoot, 'typedoc.json'),
    mermaidBuild,
  ];
}

/** Whether `docs/api/` is missing or older than what it is built from. */
export function siteIsStale(): boolean {
  const index = join(siteDir, 'index.html');
  if (!existsSync(index) || !existsSync(siteMermaid)) return true;
  const built = statSync(index).mtimeMs;
  return inputs().some((f) => existsSync(f) && statSync(f).mtimeMs > built);
}

/** Runs typedoc and copies Mermaid into the site; throws when typedoc fails. */
export async function buildApiSite(log: (line: string) => void = console.log): Promise<void> {
  const stale = await checkDocs(repoRoot, () => {});
  if (stale > 0) log('docs:api: warning: the protocol pages are stale; run `npm run docs` first to include the current ones');
  const typedoc = join(repoRoot, 'node_modules', 'typedoc', 'bin', 'typedoc');
  const r = spawnSync(process.execPath, [typedoc], { cwd: repoRoot, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`typedoc failed (exit ${r.status ?? r.signal})`);
  copyFileSync(mermaidBuild, siteMermaid);
  log(`docs:api: site in ${siteDir} (open index.html)`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    await buildApiSite();
  } catch (e) {
    console.error(`docs:api: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}
