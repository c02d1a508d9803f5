/** The host NIC's own properties, stated from outside over arbitrary arrival trains. */
import fc from 'fast-check';
import { createActor, type EventObject } from 'xstate';
import { describe, expect, test } from 'vitest';
import { checkInput, hostNicMachine } from '../machines/host-nic.js';
import { InputError } from '../machines/params.js';
import { numRuns } from './harness.js';
import { properties } from './host-nic.props.js';

describe('host-nic', () => {
  for (const p of properties) {
    test(`${p.name}: ${p.description}`, () => {
      fc.assert(p.property(hostNicMachine), { numRuns: numRuns(p.runs) });
    });
  }

  test('ethtool: rx-usecs and rx-frames both 0 (no interrupt would ever fire) is rejected, naming rxFrames', () => {
    expect(() => checkInput({ rxUsecs: 0, rxFrames: 0 })).toThrow(InputError);
    expect(() => checkInput({ rxUsecs: 0, rxFrames: 0 })).toThrow(/rxFrames/);
    expect(() => checkInput({ rxUsecs: 0, rxFrames: 5, rxQueueSize: 4 })).toThrow(/rxFrames/);
    expect(checkInput({ rxUsecs: 0, rxFrames: 1 }).rxFrames).toBe(1);
  });

  test('a lone frame waits rx-usecs, then one poll delivers it and ends the cycle with an EoC', () => {
    const actor = createActor(hostNicMachine, { input: { rxUsecs: 50, rxFrames: 32 } });
    const seen: EventObject[] = [];
    actor.on('*', (e: EventObject) => void seen.push(e));
    actor.start();
    actor.send({ type: 'wire.rx', now: 1_000, frame: { id: 7, bytes: 1514 } });
    actor.send({ type: 'timer', now: 50_999 });
    expect(seen).toEqual([]);
    actor.send({ type: 'timer', now: 60_000 });
    actor.send({ type: 'driver.poll', now: 60_000 });
    expect(seen).toEqual([
      { type: 'irq', now: 51_000, reason: 'rx-usecs', pending: 1 },
      { type: 'host.rx', now: 60_000, frame: { id: 7, bytes: 1514 } },
      { type: 'eoc', now: 60_000, frames: 1, bytes: 1514, polls: 1 },
    ]);
    expect(actor.getSnapshot().value).toEqual({ rx: 'idle', tx: 'ready' });
    actor.stop();
  });
});
