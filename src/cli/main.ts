/**
 * The `speechbridge` command line: serve, transcribe, say, vad, models, cert, stream, listen.
 * Each command imports its engines and libraries when it runs, not here, so a command pays
 * only for what it uses (`say` never loads the HTTP server, whisper or the OpenAI SDK).
 */
import { Command, CommanderError, Option } from 'commander';
import { VERSION } from '../server/version.ts';
import { describeCliError, USAGE_EXIT_CODE, wantsStack } from './cli-errors.ts';
import { registerCertCommand } from './cert-command.ts';
import { registerListenCommand } from './listen-command.ts';
import { registerModelsCommand } from './models-command.ts';
import { registerSayCommand } from './say-command.ts';
import { registerServeCommand } from './serve-command.ts';
import { registerStreamCommand } from './stream-command.ts';
import { registerTranscribeCommand } from './transcribe-command.ts';
import { registerVadCommand } from './vad-command.ts';

const program = new Command('speechbridge')
  .description('Self-hosted realtime speech gateway: VAD, speech recognition, LLM and speech synthesis behind OpenAI-compatible APIs.')
  .version(VERSION)
  .addOption(new Option('--env-file <path>', 'read environment variables from this file (default: ./.env when present)'))
  // Set before the commands are added, which inherit them: a usage mistake is one line
  // ("speechbridge: unknown option '--prot' (Did you mean --protocol?) — see speechbridge
  // stream --help"), and it exits with 2 through the catch below rather than commander's 1.
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(`${usageLine(text)}\n`) });

registerServeCommand(program);
registerTranscribeCommand(program);
registerSayCommand(program);
registerVadCommand(program);
registerModelsCommand(program);
registerCertCommand(program);
registerStreamCommand(program);
registerListenCommand(program);

function usageLine(text: string): string {
  const words = process.argv.slice(2).filter((word) => !word.startsWith('-'));
  const command = program.commands.find((candidate) => candidate.name() === words[0]);
  const sub = command?.commands.find((candidate) => candidate.name() === words[1]);
  const help = ['speechbridge', command?.name(), sub?.name(), '--help'].filter(Boolean).join(' ');
  return `speechbridge: ${text
    .replace(/^error: /, '')
    .trim()
    .replace(/\s*\n\s*/g, ' ')} — see ${help}`;
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version end here too, with exit code 0; usage errors were printed by outputError.
    process.exit(error.exitCode === 0 ? 0 : USAGE_EXIT_CODE);
  }
  const failure = describeCliError(error);
  process.stderr.write(`speechbridge: ${failure.message}\n`);
  if (wantsStack() && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  process.exit(failure.exitCode);
}
