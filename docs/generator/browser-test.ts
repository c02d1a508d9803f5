/**
 * Browser test of the API site's diagrams (`npm run test:browser`; not part of `npm test`, as it
 * needs Chromium: `apt-get install -y chromium`).
 *
 * Builds `docs/api/` when it is missing or older than its sources, serves it from 127.0.0.1,
 * opens every page that has a Mermaid block in Chromium (requests to anywhere else are refused
 * and fail the page: the site must work offline) and checks that each block became a diagram:
 * an <svg> with drawn states in a container marked rendered, and no Mermaid error. One more page,
 * made here, renders the escaping fixture's diagram and checks that its awkward labels come
 * out literally. Prints one line per page and `N passed, N failed`; exits 1 on any failure.
 *
 *     tsx docs/generator/browser-test.ts [--screenshots DIR] [--no-build]
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { buildApiSite, siteDir, siteIsStale } from './build-api.js';
import { stateDiagram } from './diagram.js';
import { escapingFixture, escapingFixtureTexts } from './escaping-fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const FIXTURE_PAGE = '__escaping-fixture.html';

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.png': 'image/png',
};

function htmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A page shaped like typedoc's, holding the escaping fixture's diagram. */
function fixturePage(): string {
  return [
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>escaping fixture</title></head><body>',
    `<pre><code class="mermaid">${htmlEscape(stateDiagram(escapingFixture))}</code><button type="button">Copy</button></pre>`,
    '<script defer src="assets/custom.js"></script></body></html>',
  ].join('\n');
}

/** Serves `root` (and the fixture page) on 127.0.0.1 at a free port. */
async function serve(root: string): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    if (path === `/${FIXTURE_PAGE}`) {
      res.writeHead(200, { 'content-type': contentTypes['.html'] });
      res.end(fixturePage());
      return;
    }
    const file = normalize(join(root, path.endsWith('/') ? `${path}index.html` : path));
    if ((file !== root && !file.startsWith(root + sep)) || !existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': contentTypes[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no server address');
  return { server, base: `http://127.0.0.1:${address.port}/` };
}

/** Site pages (paths relative to the site, with `/`) that hold a Mermaid block, sorted. */
function pagesWithDiagrams(root: string): string[] {
  const out: string[] = [];
  const visit = (dir: string) => {
    for (const name of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, name.name);
      if (name.isDirectory()) visit(full);
      else if (name.name.endsWith('.html') && /<code class="(?:language-)?mermaid"/.test(readFileSync(full, 'utf8'))) {
        out.push(relative(root, full).split(sep).join('/'));
      }
    }
  };
  visit(root);
  return out.sort();
}

interface DiagramReport {
  status: string | null;
  svgs: number;
  states: number;
  error: string | null;
  text: string;
}

/**
 * What became of each Mermaid block on the loaded page. Runs in the page, so it is written as
 * browser JavaScript (the project's TypeScript has no DOM types).
 */
const inspectDiagrams = `(() => ({
  left: document.querySelectorAll('pre > code.mermaid, pre > code.language-mermaid').length,
  diagrams: Array.from(document.querySelectorAll('.mermaid-diagram')).map((c) => {
    const svg = c.querySelector('svg');
    const mermaidError = c.querySelector('[aria-roledescription="error"], .error-icon, .error-text, .mermaid-error');
    return {
      status: c.getAttribute('data-mermaid-status'),
      svgs: c.querySelectorAll('svg').length,
      states: svg ? svg.querySelectorAll('g.node, g.statediagram-state, g.cluster').length : 0,
      error: c.getAttribute('data-mermaid-error') ?? (mermaidError ? mermaidError.textContent || 'error element' : null),
      text: svg ? svg.textContent ?? '' : '',
    };
  }),
}))()`;

async function diagramsOn(page: Page): Promise<{ left: number; diagrams: DiagramReport[] }> {
  await page.waitForSelector('html[data-mermaid="done"]', { timeout: 60_000 });
  return page.evaluate<{ left: number; diagrams: DiagramReport[] }>(inspectDiagrams);
}

/** Reasons a page fails, or none. */
function problems(r: { left: number; diagrams: DiagramReport[] }, expected: number): string[] {
  const out: string[] = [];
  if (r.left > 0) out.push(`${r.left} Mermaid block(s) left unrendered`);
  if (r.diagrams.length !== expected) out.push(`${r.diagrams.length} diagram container(s) for ${expected} block(s)`);
  r.diagrams.forEach((d, i) => {
    if (d.error !== null) out.push(`diagram ${i + 1}: ${d.error}`);
    else if (d.status !== 'rendered') out.push(`diagram ${i + 1}: status ${d.status}`);
    else if (d.svgs === 0) out.push(`diagram ${i + 1}: no svg`);
    else if (d.states === 0) out.push(`diagram ${i + 1}: the svg draws no state`);
  });
  return out;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const shotsAt = args.indexOf('--screenshots');
  const shotDir = shotsAt >= 0 ? args[shotsAt + 1] : undefined;
  if (shotDir) mkdirSync(shotDir, { recursive: true });

  if (!args.includes('--no-build') && siteIsStale()) await buildApiSite();
  if (!existsSync(CHROMIUM)) {
    console.log(`browser test: ${CHROMIUM} not found (apt-get install -y chromium)`);
    console.log('0 passed, 1 failed');
    return 1;
  }
  const pages = pagesWithDiagrams(siteDir);
  const { server, base } = await serve(siteDir);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  let passed = 0;
  let failed = 0;
  try {
    const blockCount = (p: string) =>
      p === FIXTURE_PAGE ? 1 : (readFileSync(join(siteDir, p), 'utf8').match(/<code class="(?:language-)?mermaid"/g) ?? []).length;
    for (const p of [...pages, FIXTURE_PAGE]) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      const offsite: string[] = [];
      const pageErrors: string[] = [];
      await context.route('**/*', (route) => {
        const url = route.request().url();
        if (url.startsWith(base)) return route.continue();
        offsite.push(url);
        return route.abort();
      });
      page.on('pageerror', (e) => pageErrors.push(e.message));
      let why: string[];
      try {
        await page.goto(base + p, { waitUntil: 'load' });
        const report = await diagramsOn(page);
        why = problems(report, blockCount(p));
        if (p === FIXTURE_PAGE && report.diagrams[0]) {
          for (const text of escapingFixtureTexts) {
            if (!report.diagrams[0].text.includes(text)) why.push(`label ${JSON.stringify(text)} not drawn literally`);
          }
        }
      } catch (e) {
        why = [(e as Error).message.split('\n')[0]];
      }
      why.push(...pageErrors.map((m) => `page error: ${m}`), ...offsite.map((u) => `request off the site: ${u}`));
      if (shotDir && why.length === 0) {
        await page.screenshot({ path: join(shotDir, `${p.replace(/[/\\]/g, '_')}.png`), fullPage: true });
      }
      await context.close();
      const n = p === FIXTURE_PAGE ? 1 : blockCount(p);
      if (why.length === 0) {
        passed++;
        console.log(`ok    ${p} (${n} diagram${n === 1 ? '' : 's'})`);
      } else {
        failed++;
        console.log(`FAIL  ${p}: ${why.join('; ')}`);
      }
    }
  } finally {
    await browser.close();
    server.close();
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed > 0 || passed === 0 ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main();
}
