/**
 * The official `openai` SDK client, set up for an OpenAI-compatible upstream (OpenAI itself,
 * a whisper server, vLLM, llama.cpp, Ollama, another speechbridge).
 */
import OpenAI from 'openai';
import { boundedFetch, type BodyLimit } from '../bounded-fetch.ts';

export interface OpenAIClientOptions {
  /** The upstream's API root, e.g. https://api.openai.com/v1 or http://localhost:8000/v1. */
  baseURL: string;
  /** Absent or empty for upstreams that need no key. */
  apiKey?: string;
  /** REQUEST_TIMEOUT in ms; bounds the wait for response headers (providers add their own deadline). */
  timeoutMs: number;
  /** For tests and proxies. */
  fetch?: typeof fetch;
  /** Response bodies (JSON, error pages, SSE streams) stop at this size; absent leaves them unbounded. */
  bodyLimit?: BodyLimit;
}

/**
 * Sent when no key is configured: the SDK refuses to build a client without one, and local
 * upstreams ignore the header.
 */
export const PLACEHOLDER_API_KEY = 'sk-no-key-required';

export function createOpenAIClient(options: OpenAIClientOptions): OpenAI {
  return new OpenAI({
    baseURL: options.baseURL,
    apiKey: options.apiKey || PLACEHOLDER_API_KEY,
    timeout: options.timeoutMs,
    // No SDK retries: its back-off (0.5–8 s per attempt) would stack on top of REQUEST_TIMEOUT
    // while a user waits for a spoken answer, and a retried streaming call could repeat text
    // already spoken. Failures surface at once as SpeechbridgeErrors whose `retryable` lets
    // the caller decide.
    maxRetries: 0,
    // Failures are reported once, as SpeechbridgeErrors, by the gateway's own logging; the
    // SDK's console output (e.g. on unparsable stream chunks) would duplicate them.
    logLevel: 'off',
    // The SDK reads whole bodies and SSE lines into memory: the limit has to sit below it, in its fetch.
    ...(options.bodyLimit ? { fetch: boundedFetch(options.bodyLimit, options.fetch) } : options.fetch ? { fetch: options.fetch } : {}),
  });
}
