/**
 * The `vnet-model` command. Each subcommand lives in cli/commands/<name>.ts and is listed here.
 * Errors a user can fix (bad arguments, bad files, bad input) are printed as one clear message
 * with exit code 2; nothing a user types should produce a stack trace.
 */
import { UsageError, type Command } from './command.js';
import { demo } from './commands/demo.js';
import { exploreCommand } from './commands/explore.js';
import { replayCommand } from './commands/replay.js';
import { reportCommand } from './commands/report.js';

const commands: readonly Command[] = [demo, exploreCommand, replayCommand, reportCommand];

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: vnet-model <command> [options]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `vnet-model <command> --help` for the options of a command.',
  ].join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? 0 : 2;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`vnet-model: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`usage: vnet-model ${command.name} ${command.usage}\n\n${command.summary}\n\n${command.help ?? ''}`.trimEnd());
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError || (err instanceof Error && err.name === 'InputError')) {
      console.error(`vnet-model ${command.name}: ${err.message}`);
      return 2;
    }
    throw err;
  }
}

// Run when executed directly (tsx cli/main.ts, or the compiled bin).
const invokedDirectly = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/').split('/').pop()!);
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(`vnet-model: internal error: ${err instanceof Error ? err.stack : String(err)}`);
      process.exitCode = 1;
    },
  );
}
