/** The `speechbridge` command line: serve, transcribe, say, vad, models, stream, listen. */
import { Command, Option } from 'commander';
import { SpeechbridgeError } from '../engine/errors.ts';
import { VERSION } from '../server/version.ts';
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
  .showHelpAfterError();

registerServeCommand(program);
registerTranscribeCommand(program);
registerSayCommand(program);
registerVadCommand(program);
registerModelsCommand(program);
registerStreamCommand(program);
registerListenCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof SpeechbridgeError) {
    process.stderr.write(`speechbridge: ${error.message}\n`);
    process.exit(error.category === 'invalid_request' ? 2 : 1);
  }
  throw error;
}
