/**
 * The mutant corpus: one file per machine under properties/mutants/, each exporting `mutants`;
 * machine-specific properties are exported by `properties/<machine>.props.ts` as `properties`.
 */
import type { MachineProperty, Mutant } from '../harness.js';
import { mutants as virtioRingMutants } from './virtio-ring.js';
import { properties as virtioRingProperties } from '../virtio-ring.props.js';

export const mutants: readonly Mutant[] = [...virtioRingMutants];

const allProperties: readonly MachineProperty[] = [...virtioRingProperties];

export const propertiesByName: ReadonlyMap<string, MachineProperty> = new Map(allProperties.map((p) => [p.name, p]));
