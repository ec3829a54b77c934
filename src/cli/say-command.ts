/**
 * `speechbridge say "<text>"`: synthesize speech to a file, or raw PCM to stdout when piped.
 * It loads the synthesizer alone (and ffmpeg's encoder only for compressed formats), so the
 * first audio leaves within a second of the command starting.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { Command, Option } from 'commander';
import { SpeechbridgeError } from '../errors/registry.ts';
import { ENGINE_FLAGS, configFromEnvironment, environmentFromCommand } from './environment.ts';
import { engineOptions } from './engine-options.ts';

const OUTPUT_FORMATS = ['wav', 'pcm', 'mp3', 'opus', 'webm', 'flac', 'aac'];

export function registerSayCommand(program: Command): void {
  const command = program
    .command('say')
    .description('speak text with the configured synthesizer: -o file.wav|.mp3|.ogg|.webm|.flac, or raw PCM16 mono to a pipe')
    .argument('<text>', 'what to say')
    .addOption(new Option('-o, --output <file>', 'output file; the extension picks the format (.wav, .mp3, .ogg/.opus, .webm, .flac, .aac, .pcm)'))
    .addOption(new Option('--speed <factor>', 'speaking rate 0.25–4').argParser(Number))
    .addOption(new Option('--rate <hz>', 'output sample rate').default(24000).argParser(Number));
  engineOptions(command);
  command.action(async (text: string, options: { output?: string; speed?: number; rate: number }) => {
    const environment = environmentFromCommand(command, ENGINE_FLAGS, { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
    if (!options.output && process.stdout.isTTY) {
      throw new SpeechbridgeError(
        'invalid_value',
        'stdout is a terminal: give -o out.wav, or pipe the raw PCM (e.g. | play -t raw -r 24000 -e signed -b 16 -c 1 -)',
      );
    }
    const extension = options.output?.split('.').pop()?.toLowerCase();
    const format = extension === 'ogg' || extension === 'opus' ? 'opus' : extension;
    if (options.output && !OUTPUT_FORMATS.includes(format ?? '')) {
      throw new SpeechbridgeError('invalid_value', `unknown output extension .${extension}: use .wav, .mp3, .ogg, .opus, .webm, .flac, .aac or .pcm`, {
        param: 'output',
      });
    }
    const { buildSynthesizer, choosesEspeak, startEspeakPool } = await import('../server/synthesizer-factory.ts');
    // espeak-ng takes about 0.4 s to load on its worker thread. When the settings choose it
    // (the default), it starts loading now, while this thread reads and checks the
    // configuration (about 0.3 s). One worker and no warm-up: a one-shot command speaks one
    // text, so a second engine or throw-away sentences (350 ms) would only delay it.
    const espeakPool = choosesEspeak(environment) ? startEspeakPool({ workers: 1, warmUp: false }) : undefined;
    espeakPool?.catch(() => undefined);
    const config = await configFromEnvironment(environment).catch((error: unknown) => {
      void espeakPool?.then(
        (pool) => pool.close(),
        () => undefined,
      );
      throw error;
    });
    const [{ createCliLogger }, { synthesizeAt }, { concatPcm, int16ToBytes }, { writeWav }, { initResampler }] = await Promise.all([
      import('../server/logging.ts'),
      import('../providers/synthesize-at.ts'),
      import('../audio/pcm.ts'),
      import('../audio/wav.ts'),
      import('../audio/resample.ts'),
    ]);
    // The resampler's wasm (espeak-ng speaks at 22050 Hz) loads alongside the engine, not after it.
    const [synthesizer] = await Promise.all([
      buildSynthesizer(config, createCliLogger(config.logLevel), { workers: 1, warmUp: false, espeakPool }),
      initResampler(),
    ]);
    const request = { text, voice: config.tts.voice, speed: options.speed };
    try {
      if (!options.output) {
        process.stderr.write(`raw PCM16 little-endian mono at ${options.rate} Hz\n`);
        for await (const chunk of synthesizeAt(synthesizer, options.rate, request)) {
          if (!process.stdout.write(int16ToBytes(chunk))) await once(process.stdout, 'drain');
        }
        return;
      }
      const pcm = synthesizeAt(synthesizer, options.rate, request);
      if (format === 'wav' || format === 'pcm') {
        const chunks: Int16Array[] = [];
        for await (const chunk of pcm) chunks.push(chunk);
        const samples = concatPcm(chunks);
        const bytes = format === 'wav' ? writeWav({ samples, sampleRate: options.rate }) : int16ToBytes(samples);
        await writeAll(options.output, [bytes]);
        process.stderr.write(`wrote ${options.output}: ${(samples.length / options.rate).toFixed(2)} s at ${options.rate} Hz\n`);
      } else if (format === 'mp3' || format === 'opus' || format === 'webm' || format === 'flac' || format === 'aac') {
        const { encodeAudio } = await import('../audio/encode.ts');
        await writeAll(options.output, encodeAudio(pcm, { sampleRate: options.rate, format }));
        process.stderr.write(`wrote ${options.output}\n`);
      }
    } finally {
      await synthesizer.close?.();
    }
  });
}

async function writeAll(file: string, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
  const out = createWriteStream(file);
  for await (const chunk of chunks) {
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}
