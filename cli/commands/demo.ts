/**
 * `vnet-model demo`: one frame sent by a guest crosses the machines built so far, and every step
 * is printed as the machines emit it. Nothing here is canned: each line is an effect a machine
 * emitted or an event the demo delivered.
 */
import { createActor } from 'xstate';
import { virtioRingMachine, type Emitted as RingEmitted, type Frame } from '../../machines/virtio-ring.js';
import { parseArgs, type Command } from '../command.js';

export const demo: Command = {
  name: 'demo',
  usage: '[--bytes N]',
  summary: 'send one frame from a guest to its peer through the machines and print each step',
  run: async (args) => {
    const parsed = parseArgs(args, { values: ['--bytes'] });
    const bytes = Number(parsed.values.get('--bytes') ?? 1500);
    if (!Number.isInteger(bytes) || bytes < 14 || bytes > 65535) {
      throw new Error(`--bytes must be an integer from 14 to 65535, got ${parsed.values.get('--bytes')}`);
    }
    const log = (who: string, what: string) => console.log(`${who.padEnd(22)} ${what}`);
    const tx = createActor(virtioRingMachine, { input: { role: 'tx', queueSize: 256 } });
    const rx = createActor(virtioRingMachine, { input: { role: 'rx', queueSize: 256 } });
    const wire: Frame[] = [];
    tx.on('*', (e: RingEmitted) => {
      log('guest A tx ring', JSON.stringify(e, (k, v) => (k === 'data' ? undefined : v)));
      if (e.type === 'kick') tx.send({ type: 'device.kick' });
      if (e.type === 'tx.frame') wire.push(e.frame);
      if (e.type === 'irq') tx.send({ type: 'driver.interrupt' });
    });
    rx.on('*', (e: RingEmitted) => {
      log('guest B rx ring', JSON.stringify(e, (k, v) => (k === 'data' ? undefined : v)));
      if (e.type === 'irq') rx.send({ type: 'driver.interrupt' });
    });
    tx.start();
    rx.start();
    log('guest B driver', 'posts 8 receive buffers of 2048 bytes');
    rx.send({ type: 'driver.post', lengths: Array(8).fill(2048) });
    log('guest A driver', `adds a ${bytes}-byte frame to the transmit ring`);
    tx.send({ type: 'driver.add', frames: [{ id: 1, bytes }] });
    for (const frame of wire.splice(0)) {
      log('VNET/P core', `frame ${frame.id} (${frame.bytes} bytes) handed to the peer's receive queue`);
      rx.send({ type: 'device.deliver', frame });
    }
    rx.send({ type: 'driver.reap', budget: 64 });
    rx.send({ type: 'driver.complete' });
    tx.send({ type: 'driver.reap', budget: 64 });
    tx.send({ type: 'driver.complete' });
    const s = rx.getSnapshot().context.stats;
    log('result', `guest B received ${s.received} frame(s); dropped ${s.droppedNoBuffer + s.droppedTooLarge}`);
    return s.received === 1 ? 0 : 1;
  },
};
