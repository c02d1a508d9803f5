/**
 * Escaping for the generated pages: Markdown table cells (GitHub and typedoc's markdown-it both
 * read them) and Mermaid labels.
 *
 * Text reaches a page in three ways. Authors' prose (state, transition and parameter
 * descriptions, the summary) is Markdown and keeps its code spans; plain values (section names,
 * sample names) are shown literally; identifiers (state ids, guards, actions, event types) go in
 * code spans. Whatever the way, a cell must not end early at a `|` or a line break, and nothing
 * may open an HTML tag.
 */

/** Splits `text` into code spans and the text between them (CommonMark backtick-run matching). */
function splitCodeSpans(text: string): { code: boolean; text: string }[] {
  const parts: { code: boolean; text: string }[] = [];
  let plainStart = 0;
  let i = 0;
  while (i < text.length) {
    if (text[i] === '\\') {
      i += 2;
      continue;
    }
    if (text[i] !== '`') {
      i++;
      continue;
    }
    let run = 0;
    while (text[i + run] === '`') run++;
    // A code span closes at the next backtick run of exactly the same length.
    let j = i + run;
    let close = -1;
    while (j < text.length) {
      if (text[j] !== '`') {
        j++;
        continue;
      }
      let r = 0;
      while (text[j + r] === '`') r++;
      if (r === run) {
        close = j;
        break;
      }
      j += r;
    }
    if (close < 0) {
      i += run;
      continue;
    }
    if (i > plainStart) parts.push({ code: false, text: text.slice(plainStart, i) });
    parts.push({ code: true, text: text.slice(i, close + run) });
    i = close + run;
    plainStart = i;
  }
  if (plainStart < text.length) parts.push({ code: false, text: text.slice(plainStart) });
  return parts;
}

const oneLine = (text: string): string => text.replace(/\s*\r?\n\s*/g, ' ').trim();

/**
 * Author Markdown for a table cell: one line, `|` escaped (also inside code spans, which GFM
 * tables require), and a `<` that would open an HTML tag escaped outside code spans.
 */
export function proseCell(text: string): string {
  return splitCodeSpans(oneLine(text))
    .map((p) => (p.code ? p.text.replace(/\|/g, '\\|') : p.text.replace(/\|/g, '\\|').replace(/<(?=[A-Za-z/!?])/g, '\\<')))
    .join('');
}

/** Author Markdown for a paragraph: as written, with HTML-tag openers escaped outside code spans. */
export function prose(text: string): string {
  return splitCodeSpans(text.trim())
    .map((p) => (p.code ? p.text : p.text.replace(/<(?=[A-Za-z/!?])/g, '\\<')))
    .join('');
}

/** Literal text: every character Markdown could read as syntax is backslash-escaped. */
export function plain(text: string): string {
  return oneLine(text).replace(/[\\`*_[\]<>|&~]/g, (c) => `\\${c}`);
}

/** A code span holding `text` literally, safe in a table cell. */
export function code(text: string): string {
  const t = oneLine(text);
  const longest = Math.max(0, ...(t.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longest + 1);
  // A span that starts or ends with a backtick needs padding spaces (CommonMark strips one each side).
  const pad = t.startsWith('`') || t.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${t.replace(/\|/g, '\\|')}${pad}${fence}`;
}

/** A Markdown table; every cell must already be escaped for its kind of text. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.map((c) => (c === '' ? ' ' : c)).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * Text for a Mermaid label (state name, edge label). Mermaid replaces `#name;` and `#123;` with
 * HTML entities after parsing, so every character its grammar or the HTML label could read as
 * syntax is written as an entity code: quotes, statement separators, comments, braces, tags.
 */
export function mermaidText(text: string): string {
  const codes: Record<string, string> = {
    '#': '#35;',
    ';': '#59;',
    ':': '#58;',
    '"': '#quot;',
    '<': '#lt;',
    '>': '#gt;',
    '&': '#amp;',
    '{': '#123;',
    '}': '#125;',
    '%': '#37;',
    '|': '#124;',
    '\\': '#92;',
    '`': '#96;',
  };
  return oneLine(text).replace(/[#;:"<>&{}%|\\`]/g, (c) => codes[c]);
}

/** A Mermaid identifier derived from `path`: letters, digits and underscores only. */
export function mermaidId(path: string): string {
  return `s_${path.replace(/[^A-Za-z0-9]+/g, '_')}`;
}
