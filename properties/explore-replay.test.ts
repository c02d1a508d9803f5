/**
 * The exploration and replay tooling: `vnet-model explore` agrees with the pinned state-space
 * counts; a failing property writes an ITF counterexample that `replay` reproduces on the broken
 * machine and reports as differing on the correct one; a JSON-lines log with an illegal step is
 * rejected at that line; malformed logs give line-numbered errors.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { createMachine, type AnyStateMachine, type EventObject } from 'xstate';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { exploreCommand, exploreEntry } from '../cli/commands/explore.js';
import { parseEventLog, replayCommand, replayEvents, replayTrace } from '../cli/commands/replay.js';
import { UsageError } from '../cli/command.js';
import { main } from '../cli/main.js';
import { catalog, machineIds, type AnyCatalogEntry } from '../machines/index.js';
import { explore, fingerprint, randomRun } from '../model/explore.js';
import { fromItf, machineRunToItf, machineRunToMermaid, toItf, type ItfTrace } from '../model/trace.js';
import { invariantsHoldProperty, withMachine } from './harness.js';
import { mutants, propertiesByName } from './mutants/index.js';

const pinned = JSON.parse(readFileSync(new URL('./state-space.json', import.meta.url), 'utf8')) as Record<
  string,
  Record<string, { states: number; transitions: number; depth: number }>
>;

const ring = catalog['virtio-ring'];
const mutant = (name: string) => {
  const m = mutants.find((x) => x.name === name);
  if (!m) throw new Error(`no mutant ${name}`);
  return m;
};
const skipsRecheck = mutant('virtio-ring/driver-skips-recheck');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vnet-explore-replay-'));
  process.env.COUNTEREXAMPLES_DIR = join(dir, 'counterexamples');
});
afterAll(() => {
  delete process.env.COUNTEREXAMPLES_DIR;
  rmSync(dir, { recursive: true, force: true });
});

/** Runs a CLI command in-process, capturing what it prints. */
async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  try {
    const code = await main(args);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe('explore', () => {
  test.each(machineIds)('%s: every sample is explored completely and agrees with the pinned counts', (id) => {
    const entry = catalog[id];
    const report = exploreEntry(entry, entry.samples);
    for (const run of report.runs) expect(run.complete, `${id}/${run.name} did not finish within the default bound`).toBe(true);
    if (pinned[id]) {
      const counts = Object.fromEntries(report.runs.map((r) => [r.name, { states: r.states, transitions: r.transitions, depth: r.depth }]));
      expect(counts).toEqual(pinned[id]);
    }
  });

  test('fingerprint keys and full keys give the same exploration', () => {
    for (const sample of ring.samples) {
      const a = explore(ring, sample.input);
      const b = explore(ring, sample.input, { fullKeys: true });
      expect([a.states, a.transitions, a.depth]).toEqual([b.states, b.transitions, b.depth]);
      expect([...a.transitionsReached].sort()).toEqual([...b.transitionsReached].sort());
      expect(a.statesPerSecond).toBeGreaterThan(0);
    }
  });

  test('the fingerprint is 64-bit FNV-1a', () => {
    // Published FNV-1a 64 test vectors.
    expect(fingerprint('')).toBe('cbf29ce484222325');
    expect(fingerprint('a')).toBe('af63dc4c8601ec8c');
    expect(fingerprint('foobar')).toBe('85944171f73967e8');
  });

  test('a broken machine is reported with the shortest path to the violation', () => {
    const report = exploreEntry(withMachine(ring, skipsRecheck.machine), [ring.samples[0]]);
    expect(report.ok).toBe(false);
    const v = report.runs[0].violations.find((x) => x.invariant === 'no-lost-interrupt');
    expect(v).toBeDefined();
    // Driving the broken machine along the path ends in the violation at its last event.
    const path = v!.path;
    const conformance = replayEvents(ring, ring.samples[0].input, path.map((event, i) => ({ line: i + 1, event })), skipsRecheck.machine);
    expect(conformance.outcome).toBe('violation');
    expect(conformance.line).toBe(path.length);
  });

  test('a deadlock is reported and fails the run', () => {
    const stuck = createMachine({
      id: 'stuck',
      initial: 'a',
      states: { a: { on: { go: 'b' } }, b: {} },
    }) as unknown as AnyStateMachine;
    const entry: AnyCatalogEntry = {
      ...ring,
      id: 'stuck',
      machine: stuck,
      invariants: [],
      witnesses: [],
      events: () => [{ type: 'go' }],
      serializeState: (s) => JSON.stringify(s.value),
    };
    const report = exploreEntry(entry, [{ name: 'only', input: {} }]);
    expect(report.ok).toBe(false);
    expect(report.runs[0].deadlocks.map((d) => [d.key, d.path])).toEqual([['"b"', [{ type: 'go' }]]]);
  });

  test('alphabet events with equal JSON count as one edge', () => {
    const loop = createMachine({ id: 'loop', initial: 'a', states: { a: { on: { go: { target: 'a', reenter: true } } } } }) as unknown as AnyStateMachine;
    const bytes = (...b: number[]) => new Uint8Array(b);
    const entry: AnyCatalogEntry = {
      ...ring,
      id: 'loop',
      machine: loop,
      invariants: [],
      witnesses: [],
      // Five events, three distinct by JSON: equal copies, and frames differing in one byte or in length.
      events: () => [
        { type: 'go', frame: { data: bytes(1, 2) } },
        { type: 'go', frame: { data: bytes(1, 2) } },
        { type: 'go', frame: { data: bytes(1, 3) } },
        { type: 'go', frame: { data: bytes(1, 2), extra: undefined } },
        { type: 'go', frame: { data: bytes(1, 2, 0) } },
      ],
      serializeState: (s) => JSON.stringify(s.value),
    };
    const r = explore(entry, {});
    expect([r.states, r.transitions]).toEqual([1, 3]);
  });

  test('--json prints one document; exit code 0 for a correct machine', async () => {
    const r = await runCli(['explore', 'virtio-ring', '--sample', 'tx', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as { machine: string; ok: boolean; runs: { name: string; states: number }[] };
    expect(doc.machine).toBe('virtio-ring');
    expect(doc.ok).toBe(true);
    expect(doc.runs.map((x) => [x.name, x.states])).toEqual([['tx', pinned['virtio-ring']?.tx?.states ?? explore(ring, ring.samples[0].input).states]]);
  });

  test('usage errors exit 2 and name the problem', async () => {
    const bad = join(dir, 'bad-input.json');
    writeFileSync(bad, JSON.stringify({ role: 'tx', queueSize: 3 }));
    const broken = join(dir, 'broken-input.json');
    writeFileSync(broken, '{"role":');
    const cases: [string[], RegExp][] = [
      [['explore', 'no-such-machine'], /unknown machine "no-such-machine"/],
      [['explore', 'virtio-ring', '--sample', 'nope'], /no sample "nope"/],
      [['explore', 'virtio-ring', '--input', join(dir, 'missing.json')], /missing\.json.*no such file/],
      [['explore', 'virtio-ring', '--input', broken], /broken-input\.json.*not valid JSON/],
      [['explore', 'virtio-ring', '--input', bad], /queueSize/],
      [['explore', 'virtio-ring', '--max-states', 'x'], /--max-states/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(message);
    }
  });

  test('a real process: `explore virtio-ring` exits 0', () => {
    const cwd = new URL('..', import.meta.url).pathname;
    // execFileSync throws on a non-zero exit status.
    const out = execFileSync('npx', ['tsx', 'cli/main.ts', 'explore', 'virtio-ring'], { cwd, encoding: 'utf8' });
    expect(out).toMatch(/ok: no invariant violation, no deadlock/);
  });
});

describe('ITF values', () => {
  test('what JSON lacks is tagged, and decodes back', () => {
    const value = {
      big: 2n ** 70n,
      huge: 2 ** 60,
      set: new Set([3, 1, 2]),
      map: new Map<unknown, unknown>([['b', 2], ['a', 1]]),
      bytes: new Uint8Array([0, 15, 255]),
      none: null,
      half: 0.5,
      list: [1, undefined, 'x'],
      skipped: undefined,
    };
    const itf = toItf(value);
    expect(itf).toEqual({
      big: { '#bigint': '1180591620717411303424' },
      huge: { '#bigint': '1152921504606846976' },
      set: { '#set': [1, 2, 3] },
      map: { '#map': [['a', 1], ['b', 2]] },
      bytes: '0x000fff',
      none: { '#unserializable': 'null' },
      half: { '#unserializable': '0.5' },
      list: [1, { '#unserializable': 'undefined' }, 'x'],
    });
    const back = fromItf(JSON.parse(JSON.stringify(itf))) as Record<string, unknown>;
    expect(back.big).toBe(2n ** 70n);
    expect(back.set).toEqual(new Set([1, 2, 3]));
    expect(back.map).toEqual(new Map([['a', 1], ['b', 2]]));
    expect(back.none).toBeNull();
    expect(back.half).toBe(0.5);
    expect(back.list).toEqual([1, undefined, 'x']);
    expect(fromItf({ '#tup': [1, { '#bigint': '5' }] })).toEqual([1, 5n]);
  });
});

describe('counterexample traces', () => {
  /** Fails the property on the mutant and returns the trace file named in the failure. */
  function failingTrace(): { file: string; trace: ItfTrace; message: string } {
    const result = fc.check(invariantsHoldProperty(withMachine(ring, skipsRecheck.machine), 'no-lost-interrupt'), { seed: 7, numRuns: 2000 });
    expect(result.failed).toBe(true);
    const message = (result.errorInstance as Error).message;
    const file = /trace \(ITF\): (.+\.itf\.json)/.exec(message)?.[1];
    expect(file, message).toBeDefined();
    return { file: file!, trace: JSON.parse(readFileSync(file!, 'utf8')) as ItfTrace, message };
  }

  test('a failing invariant writes the shrunk run as ITF and Mermaid, named in the failure message', () => {
    const { file, trace, message } = failingTrace();
    const mmd = /sequence diagram: (.+\.mmd)/.exec(message)?.[1];
    expect(mmd && existsSync(mmd)).toBe(true);
    expect(readFileSync(mmd!, 'utf8')).toMatch(/^sequenceDiagram\n/);
    // Only the last (shrunk) counterexample is left behind.
    expect(readdirSync(join(dir, 'counterexamples')).filter((f) => f.endsWith('.itf.json')).length).toBe(1);
    expect(trace['#meta']).toMatchObject({ format: 'ITF', machine: 'virtio-ring', catalogMachine: false });
    expect(trace.vars).toEqual(['event', 'state', 'context', 'effects']);
    const failure = trace['#meta'].failure as { step: number; name: string };
    expect(failure.name).toBe('no-lost-interrupt');
    expect(trace.states.length).toBe(failure.step + 1);
    trace.states.forEach((s, i) => expect(s['#meta'].index).toBe(i));
    expect(file.startsWith(join(dir, 'counterexamples'))).toBe(true);
  });

  test('fc.assert shows the seed and path, and its cause names the trace files', () => {
    let error: unknown;
    try {
      fc.assert(invariantsHoldProperty(withMachine(ring, skipsRecheck.machine), 'no-lost-interrupt'), { seed: 7, numRuns: 2000 });
    } catch (e) {
      error = e;
    }
    expect((error as Error).message).toMatch(/seed: 7, path: "/);
    expect(String(((error as Error).cause as Error).message)).toMatch(/trace \(ITF\): .*\.itf\.json\n {2}sequence diagram: .*\.mmd/);
  });

  test('replay reproduces the violation on the mutant, at the same step', () => {
    const { trace } = failingTrace();
    const failure = trace['#meta'].failure as { step: number; name: string };
    const r = replayTrace(trace, skipsRecheck.machine);
    expect(r.outcome).toBe('violation');
    expect(r.step).toBe(failure.step);
    expect(r.violation?.invariant).toBe(failure.name);
  });

  test('replay on the correct machine reports where it differs', async () => {
    const { file, trace } = failingTrace();
    const failure = trace['#meta'].failure as { step: number };
    const r = replayTrace(trace);
    expect(r.outcome).toBe('differs');
    expect(r.step).toBeLessThanOrEqual(failure.step);
    expect(r.differences.length).toBeGreaterThan(0);
    const cli = await runCli(['replay', file]);
    expect(cli.code).toBe(1);
    expect(cli.out).toMatch(new RegExp(`DIFFERS at step ${r.step}`));
  });

  test('a faithful trace passes replay; a tampered one differs at the tampered field', () => {
    const input = ring.samples[1].input;
    const run = randomRun(ring, input, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 3, 5]);
    expect(run.violation).toBeUndefined();
    const trace = JSON.parse(JSON.stringify(machineRunToItf({ machine: 'virtio-ring', input, initial: run.initial, steps: run.steps }))) as ItfTrace;
    expect(replayTrace(trace).outcome).toBe('passes');
    expect(machineRunToMermaid({ machine: 'virtio-ring', input, initial: run.initial, steps: run.steps }).split('->>m:').length - 1).toBe(run.steps.length);
    const at = 3;
    const tampered = JSON.parse(JSON.stringify(trace)) as { states: { context: { availIdx: number } }[] };
    tampered.states[at].context.availIdx += 1;
    const r = replayTrace(tampered as unknown as ItfTrace);
    expect(r.outcome).toBe('differs');
    expect(r.step).toBe(at);
    expect(r.differences.map((d) => d.path)).toEqual(['context.availIdx']);
  });

  test('a failing step property writes its trace too', () => {
    const m = mutant('virtio-ring/device-ignores-no-interrupt');
    const prop = propertiesByName.get(m.caughtBy)!;
    const result = fc.check(prop.property(m.machine), { seed: 3, numRuns: prop.runs * 10 });
    expect(result.failed).toBe(true);
    const file = /trace \(ITF\): (.+\.itf\.json)/.exec((result.errorInstance as Error).message)?.[1];
    const trace = JSON.parse(readFileSync(file!, 'utf8')) as ItfTrace;
    const failure = trace['#meta'].failure as { kind: string; step: number };
    expect(failure.kind).toBe('property');
    expect(trace.states.length).toBe(failure.step + 1);
    // The machine under test reproduces the recorded run exactly (the property is not re-checked).
    expect(replayTrace(trace, m.machine).outcome).toBe('passes');
  });
});

describe('replay of a JSON-lines event log', () => {
  const lines = (events: unknown[]) => events.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join('\n') + '\n';
  // A receive queue with default parameters: post a buffer, a frame arrives, and then the driver
  // reaps while interrupts are still enabled: reaping happens only in NAPI polling.
  const illegal = lines([
    { type: 'driver.post', lengths: [2048] },
    '',
    { type: 'device.kick' },
    { type: 'device.deliver', frame: { id: 1, bytes: 100 } },
    { type: 'driver.reap', budget: 64 },
    { type: 'driver.complete' },
  ]);

  test('the first event the machine does not accept is rejected, naming its line', async () => {
    const r = replayEvents(ring, {}, parseEventLog(ring, illegal));
    expect(r.outcome).toBe('rejected');
    expect(r.line).toBe(5);
    expect(r.state).toBe('driver.interruptsEnabled, device.notified');
    expect(r.accepted.map((a) => a.line)).toEqual([1, 3, 4]);
    const file = join(dir, 'illegal.jsonl');
    writeFileSync(file, illegal);
    const cli = await runCli(['replay', '--machine', 'virtio-ring', file]);
    expect(cli.code).toBe(1);
    expect(cli.out).toContain(`REJECTED ${file}:5: driver.reap`);
  });

  test('the legal order passes and prints the state after each event', async () => {
    const legal = lines([
      { type: 'driver.post', lengths: [2048] },
      { type: 'device.deliver', frame: { id: 1, bytes: 100 } },
      { type: 'driver.interrupt' },
      { type: 'driver.reap', budget: 64 },
      { type: 'driver.complete' },
    ]);
    const file = join(dir, 'legal.jsonl');
    writeFileSync(file, legal);
    const cli = await runCli(['replay', '--machine', 'virtio-ring', file]);
    expect(cli.code).toBe(0);
    expect(cli.out).toMatch(/line +4: driver\.reap .* -> driver\.polling, device\.notified +emits rx\.frame/);
  });

  test('an invariant violation stops the log at its line', () => {
    const log = lines([
      { type: 'driver.post', lengths: [2048, 2048] },
      { type: 'device.deliver', frame: { id: 1, bytes: 100 } },
      { type: 'driver.interrupt' },
      { type: 'device.deliver', frame: { id: 2, bytes: 100 } },
      { type: 'driver.reap', budget: 1 },
      { type: 'driver.complete' },
    ]);
    const events = parseEventLog(ring, log);
    expect(replayEvents(ring, {}, events).outcome).toBe('passes');
    const broken = replayEvents(ring, {}, events, skipsRecheck.machine);
    expect(broken.outcome).toBe('violation');
    expect(broken.line).toBe(6);
    expect(broken.violation?.invariant).toBe('no-lost-interrupt');
  });

  test('malformed lines, non-events and unknown event types are errors naming the line', async () => {
    const errorOf = (text: string) => {
      try {
        parseEventLog(ring, text, 'log.jsonl');
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
      }
      return undefined;
    };
    expect(errorOf(lines([{ type: 'driver.post', lengths: [64] }, '{"type": "driver.post",']))).toMatch(/^log\.jsonl:2: malformed JSON/);
    expect(errorOf(lines(['', '', '[1, 2]']))).toMatch(/^log\.jsonl:3: not an event/);
    expect(errorOf(lines([{ type: 'driver.complete' }, { kind: 'x' }]))).toMatch(/^log\.jsonl:2: not an event/);
    expect(errorOf(lines([{ type: 'driver.fly' }]))).toMatch(/^log\.jsonl:1: unknown event type "driver\.fly"/);
    expect(errorOf('\n\n  \n')).toBeUndefined();
    const file = join(dir, 'malformed.jsonl');
    writeFileSync(file, lines([{ type: 'driver.post', lengths: [64] }, 'not json']));
    const cli = await runCli(['replay', '--machine', 'virtio-ring', file]);
    expect(cli.code).toBe(2);
    expect(cli.err).toContain(`${file}:2: malformed JSON`);
  });

  test('replay usage errors', async () => {
    for (const args of [['replay'], ['replay', join(dir, 'none.itf.json')], ['replay', '--machine', 'nope', 'x.jsonl'], ['replay', 'x.jsonl']]) {
      expect((await runCli(args)).code, args.join(' ')).toBe(2);
    }
  });
});

// Keep the exported command objects honest about their names (main.ts dispatches on them).
test('the commands are registered', () => {
  expect([exploreCommand.name, replayCommand.name]).toEqual(['explore', 'replay']);
});

// `events` in a trace are decoded back into event objects.
test('recorded events round-trip through ITF', () => {
  const e: EventObject = { type: 'device.deliver', frame: { id: 3, bytes: 60 } } as EventObject;
  expect(fromItf(JSON.parse(JSON.stringify(toItf(e))))).toEqual(e);
});
