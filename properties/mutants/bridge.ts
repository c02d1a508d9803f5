/** Broken variants of the VNET/P bridge, each with the property that must catch it. */
import { enqueueActions, type AnyStateMachine } from 'xstate';
import { bridgeMachine, encapsulateFor, entry, type Context, type Event } from '../../machines/bridge.js';
import type { AnyCatalogEntry } from '../../machines/catalog-entry.js';
import type { Mutant } from '../harness.js';

const e = entry as unknown as AnyCatalogEntry;

/** Encapsulated send that leaves both checksum fields zero: IPv4 header and UDP. */
const sendWithoutChecksums = enqueueActions(({ context, event, enqueue }: { context: Context; event: Event; enqueue: any }) => {
  if (event.type !== 'send') return;
  const link = context.links.find((l) => l.id === event.link)!;
  const packets = encapsulateFor(context, link, event.frame, context.nextIpId);
  enqueue.assign({ nextIpId: (context.nextIpId + 1) & 0xffff });
  for (const [i, p] of packets.entries()) {
    const q = p.slice();
    q[24] = q[25] = 0; // IPv4 header checksum (14 + 10)
    if (i === 0) q[40] = q[41] = 0; // UDP checksum (14 + 20 + 6), in the first fragment
    enqueue.emit({ type: 'wire.send', packet: q });
  }
});

/** Encapsulated send that never fragments: one datagram, whatever the MTU. */
const sendIgnoringMtu = enqueueActions(({ context, event, enqueue }: { context: Context; event: Event; enqueue: any }) => {
  if (event.type !== 'send') return;
  const link = context.links.find((l) => l.id === event.link)!;
  const unlimited: Context = { ...context, p: { ...context.p, mtu: 65535 } };
  enqueue.assign({ nextIpId: (context.nextIpId + 1) & 0xffff });
  for (const packet of encapsulateFor(unlimited, link, event.frame, context.nextIpId)) enqueue.emit({ type: 'wire.send', packet });
});

/** A rejected packet is counted but no drop is reported. */
const dropSilently = enqueueActions(({ context, enqueue }: { context: Context; enqueue: any }) => {
  enqueue.assign({ stats: { ...context.stats, received: context.stats.received + 1, packetDrops: context.stats.packetDrops + 1 } });
});

export const mutants: readonly Mutant[] = [
  {
    name: 'bridge/fragment-accepted-twice',
    description: 'Reassembly takes a fragment whose bytes it already holds (or of a datagram it just completed), so duplicates are assembled twice.',
    entry: e,
    machine: bridgeMachine.provide({ guards: { fragmentOverlapsHeld: () => false } }) as AnyStateMachine,
    caughtBy: 'bridge/reassembly-delivers-each-datagram-once',
  },
  {
    name: 'bridge/checksum-not-computed',
    description: 'Encapsulated send writes zero for the IPv4 header checksum and the UDP checksum.',
    entry: e,
    machine: bridgeMachine.provide({ actions: { sendEncapsulated: sendWithoutChecksums } } as never) as AnyStateMachine,
    caughtBy: 'bridge/wire-packets-verify-by-rfc',
  },
  {
    name: 'bridge/reassembly-timeout-ignored',
    description: 'Reassemblies are never found overdue, so incomplete datagrams are held forever.',
    entry: e,
    machine: bridgeMachine.provide({ guards: { reassemblyOverdue: () => false } }) as AnyStateMachine,
    caughtBy: 'invariant:reassembly-within-timeout',
  },
  {
    name: 'bridge/reassembly-bytes-unbounded',
    description: 'Every fragment is taken as if it fitted the reassembly byte limit.',
    entry: e,
    machine: bridgeMachine.provide({ guards: { fragmentFitsBuffer: () => true } }) as AnyStateMachine,
    caughtBy: 'invariant:reassembly-buffer-bounded',
  },
  {
    name: 'bridge/mtu-ignored',
    description: 'Encapsulated send never fragments, so datagrams over the MTU go out whole and the peer drops them as oversized.',
    entry: e,
    machine: bridgeMachine.provide({ actions: { sendEncapsulated: sendIgnoringMtu } } as never) as AnyStateMachine,
    caughtBy: 'bridge/decapsulate-encapsulate-is-identity',
  },
  {
    name: 'bridge/silent-drop',
    description: 'A rejected packet is discarded without a drop effect, so the core and the metrics never hear of it.',
    entry: e,
    machine: bridgeMachine.provide({ actions: { dropPacket: dropSilently } } as never) as AnyStateMachine,
    caughtBy: 'bridge/receive-accounts-for-every-byte-string',
  },
  {
    name: 'bridge/duplicates-accepted-in-reference-run',
    description: 'The same duplicate-accepting bridge, judged by the model-based reassembly test instead.',
    entry: e,
    machine: bridgeMachine.provide({ guards: { fragmentOverlapsHeld: () => false } }) as AnyStateMachine,
    caughtBy: 'bridge/reassembly-matches-reference-model',
  },
  {
    name: 'bridge/timeout-ignored-in-reference-run',
    description: 'The same bridge that never expires reassemblies, judged by the model-based reassembly test.',
    entry: e,
    machine: bridgeMachine.provide({ guards: { reassemblyOverdue: () => false } }) as AnyStateMachine,
    caughtBy: 'bridge/reassembly-matches-reference-model',
  },
];
