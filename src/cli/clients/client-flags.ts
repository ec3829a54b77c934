/** The flags `stream` and `listen` share (server, protocol, mode, token, output), and their checks. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { SpeechbridgeError } from '../../errors/registry.ts';
import { languageCode } from '../../providers/languages.ts';
import { DEFAULT_URL, endpointUrl, modeFor } from './client-endpoint.ts';
import { CLIENT_MODES, PROTOCOLS, type ClientMode, type Protocol } from './speech-client.ts';

export const TOKEN_VARIABLE = 'SPEECHBRIDGE_TOKEN';

export interface ClientFlags {
  url: string;
  protocol: Protocol;
  mode?: ClientMode;
  token?: string;
  language?: string;
  targetLanguage?: string;
  voice?: string;
  json?: boolean;
  output?: string;
  timeout: number;
}

export interface ResolvedClientFlags {
  url: string;
  protocol: Protocol;
  mode: ClientMode;
  token?: string;
  language?: string;
  targetLanguage?: string;
  voice?: string;
  json: boolean;
  output?: string;
  timeoutMs: number;
}

export function clientFlags(command: Command, defaultTimeoutSeconds: number): Command {
  return command
    .addOption(
      new Option(
        '--url <url>',
        'speechbridge server: ws://, wss://, http:// or https:// (host:port alone is ws://); the endpoint path comes from --protocol, a path of its own is kept (a proxy prefix)',
      ).default(DEFAULT_URL),
    )
    .addOption(
      new Option('--protocol <protocol>', 'wire protocol: realtime (/v1/realtime), gateway (start/audio/end on /) or transcriptions (/v1/transcriptions)')
        .choices(PROTOCOLS)
        .default('realtime'),
    )
    .addOption(
      new Option(
        '--mode <mode>',
        'transcribe (text only), assistant (spoken replies), translate (spoken translation), echo (says back what it heard); default: assistant, transcribe for --protocol transcriptions',
      ).choices(CLIENT_MODES),
    )
    .addOption(new Option('--token <token>', `API token, when the server sets API_TOKENS (sent as a bearer header)`).env(TOKEN_VARIABLE))
    .addOption(new Option('-l, --language <code>', 'spoken language (ISO-639-1), e.g. en'))
    .addOption(new Option('--target-language <language>', 'translate mode: the language to translate into (default English)'))
    .addOption(new Option('--voice <voice>', 'reply voice (alloy, echo, …, or an engine voice)'))
    .addOption(new Option('-o, --output <file.wav>', 'save the reply audio to this WAV file'))
    .addOption(new Option('--json', 'print one JSON event per line instead of readable lines'))
    .addOption(
      new Option('--timeout <seconds>', 'longest wait for the server: for the session to start, and for the last results once the audio has ended')
        .default(defaultTimeoutSeconds)
        .argParser(positiveNumber('--timeout')),
    );
}

export function resolveClientFlags(flags: ClientFlags): ResolvedClientFlags {
  const language = flags.language === undefined ? undefined : languageCode(flags.language);
  if (flags.language !== undefined && !language) {
    throw new SpeechbridgeError('invalid_value', `unknown language ${JSON.stringify(flags.language)}: use an ISO-639-1 code such as en or fr`, {
      param: 'language',
    });
  }
  const token = flags.token?.trim() || undefined;
  const mode = modeFor(flags.protocol, flags.mode);
  if (flags.output && mode === 'transcribe') {
    const why = flags.protocol === 'transcriptions' ? '--protocol transcriptions only transcribes' : '--mode transcribe gets text only';
    throw new SpeechbridgeError('invalid_value', `-o saves the reply audio, and ${why}: drop -o, or use --mode assistant, translate or echo`, {
      param: 'output',
    });
  }
  return {
    url: endpointUrl(flags.url, flags.protocol),
    protocol: flags.protocol,
    mode,
    ...(token && { token }),
    ...(language && { language }),
    ...(flags.targetLanguage && { targetLanguage: flags.targetLanguage }),
    ...(flags.voice && { voice: flags.voice }),
    json: flags.json === true,
    ...(flags.output && { output: flags.output }),
    timeoutMs: Math.round(flags.timeout * 1000),
  };
}

export function positiveNumber(flag: string): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!Number.isFinite(number) || number <= 0) throw new InvalidArgumentError(`${flag} must be a positive number.`);
    return number;
  };
}
