/**
 * The mutant corpus: one file per machine under properties/mutants/, each exporting `mutants`;
 * machine-specific properties are exported by `properties/<machine>.props.ts` as `properties`.
 */
import type { MachineProperty, Mutant } from '../harness.js';
import { mutants as queuePairMutants } from './queue-pair.js';
import { mutants as virtioRingMutants } from './virtio-ring.js';
import { mutants as hostNicMutants } from './host-nic.js';
import { mutants as adaptiveModeMutants } from './adaptive-mode.js';
import { mutants as dispatcherMutants } from './dispatcher.js';
import { mutants as routingMutants } from './routing.js';
import { mutants as controlMutants } from './control.js';
import { mutants as guestInterruptsMutants } from './guest-interrupts.js';
import { mutants as optimisticInterruptsMutants } from './optimistic-interrupts.js';
import { mutants as cutThroughMutants } from './cut-through.js';
import { mutants as deviceAllocatorMutants } from './device-allocator.js';
import { mutants as memoryAllocatorMutants } from './memory-allocator.js';
import { mutants as eventDispatcherMutants } from './event-dispatcher.js';
import { mutants as bridgeMutants } from './bridge.js';
import { mutants as shadowConnectionMutants } from './shadow-connection.js';
import { mutants as guestSocketMutants } from './guest-socket.js';
import { mutants as vtoeNicMutants } from './vtoe-nic.js';
import { mutants as connectionAgentMutants } from './connection-agent.js';
import { properties as queuePairProperties } from '../queue-pair.props.js';
import { properties as virtioRingProperties } from '../virtio-ring.props.js';
import { properties as hostNicProperties } from '../host-nic.props.js';
import { properties as adaptiveModeProperties } from '../adaptive-mode.props.js';
import { properties as dispatcherProperties } from '../dispatcher.props.js';
import { properties as routingProperties } from '../routing.props.js';
import { properties as controlProperties } from '../control.props.js';
import { properties as guestInterruptsProperties } from '../guest-interrupts.props.js';
import { properties as optimisticInterruptsProperties } from '../optimistic-interrupts.props.js';
import { properties as cutThroughProperties } from '../cut-through.props.js';
import { properties as deviceAllocatorProperties } from '../device-allocator.props.js';
import { properties as memoryAllocatorProperties } from '../memory-allocator.props.js';
import { properties as eventDispatcherProperties } from '../event-dispatcher.props.js';
import { properties as bridgeProperties } from '../bridge.props.js';
import { properties as shadowConnectionProperties } from '../shadow-connection.props.js';
import { properties as guestSocketProperties } from '../guest-socket.props.js';
import { properties as vtoeNicProperties } from '../vtoe-nic.props.js';
import { properties as connectionAgentProperties } from '../connection-agent.props.js';

export const mutants: readonly Mutant[] = [
  ...virtioRingMutants,
  ...queuePairMutants,
  ...hostNicMutants,
  ...adaptiveModeMutants,
  ...dispatcherMutants,
  ...routingMutants,
  ...controlMutants,
  ...guestInterruptsMutants,
  ...optimisticInterruptsMutants,
  ...cutThroughMutants,
  ...deviceAllocatorMutants,
  ...memoryAllocatorMutants,
  ...eventDispatcherMutants,
  ...bridgeMutants,
  ...shadowConnectionMutants,
  ...guestSocketMutants,
  ...vtoeNicMutants,
  ...connectionAgentMutants,
];

const allProperties: readonly MachineProperty[] = [
  ...virtioRingProperties,
  ...queuePairProperties,
  ...hostNicProperties,
  ...adaptiveModeProperties,
  ...dispatcherProperties,
  ...routingProperties,
  ...controlProperties,
  ...guestInterruptsProperties,
  ...optimisticInterruptsProperties,
  ...cutThroughProperties,
  ...deviceAllocatorProperties,
  ...memoryAllocatorProperties,
  ...eventDispatcherProperties,
  ...bridgeProperties,
  ...shadowConnectionProperties,
  ...guestSocketProperties,
  ...vtoeNicProperties,
  ...connectionAgentProperties,
];

export const propertiesByName: ReadonlyMap<string, MachineProperty> = new Map(allProperties.map((p) => [p.name, p]));
