/** The voice names OpenAI's speech and realtime APIs accept, in OpenAI's order. */
export const OPENAI_VOICES = ['alloy', 'ash', 'ballad', 'coral', 'echo', 'fable', 'nova', 'onyx', 'sage', 'shimmer', 'verse', 'marin', 'cedar'] as const;

export type OpenAIVoice = (typeof OPENAI_VOICES)[number];
