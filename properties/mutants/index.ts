/**
 * The mutant corpus: one file per machine under properties/mutants/, each exporting `mutants`;
 * machine-specific properties are exported by `properties/<machine>.props.ts` as `properties`.
 */
import type { MachineProperty, Mutant } from '../harness.js';
import { mutants as queuePairMutants } from './queue-pair.js';
import { mutants as virtioRingMutants } from './virtio-ring.js';
import { properties as queuePairProperties } from '../queue-pair.props.js';
import { properties as virtioRingProperties } from '../virtio-ring.props.js';

export const mutants: readonly Mutant[] = [
  ...virtioRingMutants,
  ...queuePairMutants,
];

const allProperties: readonly MachineProperty[] = [
  ...virtioRingProperties,
  ...queuePairProperties,
];

export const propertiesByName: ReadonlyMap<string, MachineProperty> = new Map(allProperties.map((p) => [p.name, p]));
