import { Option, type Command } from 'commander';

/** The engine-choosing flags shared by serve, transcribe and say (each overrides an environment variable). */
export function engineOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--asr <engine>', 'speech recognition engine (ASR_ENGINE)').choices([
        'auto',
        'whisper',
        'pocketsphinx',
        'openai',
        'gradium',
        'wyoming',
        'openai-realtime',
      ]),
    )
    .addOption(new Option('--whisper-model <name-or-path>', 'whisper model name (tiny.en, base.en, small…) or ggml file path (WHISPER_MODEL)'))
    .addOption(new Option('--model-cache-dir <dir>', 'where named models are cached and downloaded (MODEL_CACHE_DIR)'))
    .addOption(new Option('--llm <engine>', 'LLM engine (LLM_ENGINE)').choices(['auto', 'openai', 'echo']))
    .addOption(new Option('--tts <engine>', 'speech synthesis engine (TTS_ENGINE)').choices(['auto', 'espeak', 'openai', 'gradium', 'wyoming']))
    .addOption(new Option('--voice <voice>', 'default voice (DEFAULT_TTS_VOICE)'))
    .addOption(new Option('--vad <engine>', 'voice activity detector (VAD_ENGINE)').choices(['webrtc', 'silero']))
    .addOption(new Option('--timeout <seconds>', 'upstream and engine call timeout (REQUEST_TIMEOUT)'))
    .addOption(new Option('--log-level <level>', 'log level (LOG_LEVEL)').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']));
}
