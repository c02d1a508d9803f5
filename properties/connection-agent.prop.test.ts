/** The connection agent's own properties: SID and CID tables rebuilt from its effects, disconnects reaching the guest, zero copy. */
import fc from 'fast-check';
import { describe, test } from 'vitest';
import { connectionAgentMachine } from '../machines/connection-agent.js';
import { numRuns } from './harness.js';
import { properties } from './connection-agent.props.js';

describe('connection-agent', () => {
  for (const p of properties) {
    test(`${p.name}: ${p.description}`, () => {
      fc.assert(p.property(connectionAgentMachine), { numRuns: numRuns(p.runs) });
    });
  }
});
