/**
 * The machine catalog: every protocol machine of the model, with what docs, exploration, the CLI
 * and the catalog-wide tests need. Adding a machine means adding its module's `entry` here.
 */
import type { AnyCatalogEntry } from './catalog-entry.js';
import { entry as queuePair } from './queue-pair.js';
import { entry as virtioRing } from './virtio-ring.js';
import { entry as hostNic } from './host-nic.js';
import { entry as adaptiveMode } from './adaptive-mode.js';
import { entry as dispatcher } from './dispatcher.js';
import { entry as routing } from './routing.js';
import { entry as control } from './control.js';
import { entry as guestInterrupts } from './guest-interrupts.js';
import { entry as optimisticInterrupts } from './optimistic-interrupts.js';
import { entry as cutThrough } from './cut-through.js';
import { entry as deviceAllocator } from './device-allocator.js';
import { entry as memoryAllocator } from './memory-allocator.js';
import { entry as eventDispatcher } from './event-dispatcher.js';
import { entry as bridge } from './bridge.js';
import { entry as shadowConnection } from './shadow-connection.js';
import { entry as guestSocket } from './guest-socket.js';
import { entry as vtoeNic } from './vtoe-nic.js';
import { entry as connectionAgent } from './connection-agent.js';

export type { AnyCatalogEntry, CatalogEntry, Invariant, MessageDoc, Sample, Witness } from './catalog-entry.js';
export { InputError } from './params.js';
export type { ParamSpec, ParamTable } from './params.js';

// Each entry keeps its own machine type; the catalog holds them at the common supertype.
const entries = [
  // VNET/P: the vNIC side, the core, the way out (§5.1)
  virtioRing,
  adaptiveMode,
  dispatcher,
  routing,
  control,
  bridge,
  hostNic,
  // VNET/P+: optimistic interrupts, cut-through and their components (§4.3, §4.4, §5.2)
  guestInterrupts,
  optimisticInterrupts,
  cutThrough,
  deviceAllocator,
  memoryAllocator,
  eventDispatcher,
  // VNET+VTOE: offloaded TCP over InfiniBand (§4.6, §5.3)
  guestSocket,
  vtoeNic,
  connectionAgent,
  shadowConnection,
  queuePair,
] as unknown as readonly AnyCatalogEntry[];

/** Catalog entries by machine id, in a stable order. */
export const catalog: Readonly<Record<string, AnyCatalogEntry>> = Object.freeze(
  Object.fromEntries(entries.map((e) => [e.id, e])),
);

/** Machine ids in catalog order. */
export const machineIds: readonly string[] = entries.map((e) => e.id);

/** The entry for `id`, or an error that lists the known ids. */
export function getEntry(id: string): AnyCatalogEntry {
  const e = catalog[id];
  if (!e) throw new Error(`unknown machine "${id}"; known machines: ${machineIds.join(', ')}`);
  return e;
}
