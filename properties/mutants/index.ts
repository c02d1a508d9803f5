/**
 * The mutant corpus: one file per machine under properties/mutants/, each exporting `mutants`;
 * machine-specific properties are exported by `properties/<machine>.props.ts` as `properties`.
 */
import type { MachineProperty, Mutant } from '../harness.js';
import { mutants as queuePairMutants } from './queue-pair.js';
import { mutants as virtioRingMutants } from './virtio-ring.js';
import { mutants as hostNicMutants } from './host-nic.js';
import { mutants as adaptiveModeMutants } from './adaptive-mode.js';
import { mutants as routingMutants } from './routing.js';
import { mutants as controlMutants } from './control.js';
import { properties as queuePairProperties } from '../queue-pair.props.js';
import { properties as virtioRingProperties } from '../virtio-ring.props.js';
import { properties as hostNicProperties } from '../host-nic.props.js';
import { properties as adaptiveModeProperties } from '../adaptive-mode.props.js';
import { properties as routingProperties } from '../routing.props.js';
import { properties as controlProperties } from '../control.props.js';

export const mutants: readonly Mutant[] = [
  ...virtioRingMutants,
  ...queuePairMutants,
  ...hostNicMutants,
  ...adaptiveModeMutants,
  ...routingMutants,
  ...controlMutants,
];

const allProperties: readonly MachineProperty[] = [
  ...virtioRingProperties,
  ...queuePairProperties,
  ...hostNicProperties,
  ...adaptiveModeProperties,
  ...routingProperties,
  ...controlProperties,
];

export const propertiesByName: ReadonlyMap<string, MachineProperty> = new Map(allProperties.map((p) => [p.name, p]));
