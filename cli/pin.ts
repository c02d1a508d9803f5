/**
 * Writes properties/state-space.json: the explored state and transition counts of every catalog
 * machine's samples. Run after a deliberate change to a machine, and review the diff.
 */
import { writeFileSync } from 'node:fs';
import { catalog, machineIds } from '../machines/index.js';
import { explore } from '../model/explore.js';

const out: Record<string, Record<string, { states: number; transitions: number; depth: number }>> = {};
for (const id of machineIds) {
  const entry = catalog[id];
  out[id] = {};
  for (const sample of entry.samples) {
    const r = explore(entry, sample.input);
    if (!r.complete) throw new Error(`${id}/${sample.name}: exploration did not finish`);
    out[id][sample.name] = { states: r.states, transitions: r.transitions, depth: r.depth };
    console.log(`${id.padEnd(24)} ${sample.name.padEnd(28)} ${String(r.states).padStart(7)} states ${String(r.transitions).padStart(8)} transitions  depth ${r.depth}`);
  }
}
writeFileSync(new URL('../properties/state-space.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
