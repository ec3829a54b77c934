/**
 * Provider timing on GET /metrics: every transcriber, responder and synthesizer call the
 * server makes, by provider kind, name and outcome (src/providers/base/timed-providers.ts).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { timedResponder, timedSynthesizer, timedTranscriber, type ProviderObserver } from '../providers/base/timed-providers.ts';
import type { Providers } from './providers.ts';

/** From 10 ms (a warm espeak-ng sentence) to 60 s (a long whisper turn or an LLM reply). */
const SECONDS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function createProviderObserver(registry: Registry): ProviderObserver {
  const seconds = new Histogram({
    name: 'speechbridge_provider_seconds',
    help: 'Provider call duration, from the call to its end, by kind (transcriber, responder, synthesizer), provider name and outcome (ok, error, aborted).',
    labelNames: ['kind', 'name', 'outcome'],
    buckets: SECONDS_BUCKETS,
    registers: [registry],
  });
  const firstChunk = new Histogram({
    name: 'speechbridge_provider_first_chunk_seconds',
    help: 'Time from a streaming provider call to its first chunk (partial transcript, LLM text, audio), by kind and provider name.',
    labelNames: ['kind', 'name'],
    buckets: SECONDS_BUCKETS,
    registers: [registry],
  });
  const errors = new Counter({
    name: 'speechbridge_provider_errors_total',
    help: 'Failed provider calls by kind, provider name and error code (docs/errors.md); deliberate aborts are not counted.',
    labelNames: ['kind', 'name', 'code'],
    registers: [registry],
  });
  return {
    call: (kind, name, outcome, value) => seconds.observe({ kind, name, outcome }, value),
    firstChunk: (kind, name, value) => firstChunk.observe({ kind, name }, value),
    error: (kind, name, code) => errors.inc({ kind, name, code }),
  };
}

/**
 * The embedded engines' job slots at each scrape: jobs running, jobs waiting and slots, by
 * kind and provider name. Summed across workers, like the slots themselves.
 */
function registerJobGauge(providers: Providers, registry: Registry): void {
  const gauged = [
    { kind: 'transcriber', provider: providers.transcriber },
    { kind: 'synthesizer', provider: providers.synthesizer },
  ];
  new Gauge({
    name: 'speechbridge_provider_jobs',
    help: 'Jobs of the embedded engines (whisper, pocketsphinx, espeak-ng) by kind, provider name and state: running (holding a slot), waiting (for one, bounded; past the bound a call fails with engine_busy or engine_unavailable) and slots.',
    labelNames: ['kind', 'name', 'state'],
    registers: [registry],
    collect() {
      for (const { kind, provider } of gauged) {
        const jobs = provider.jobs;
        if (!jobs) continue;
        this.set({ kind, name: provider.name, state: 'running' }, jobs.running);
        this.set({ kind, name: provider.name, state: 'waiting' }, jobs.waiting);
        this.set({ kind, name: provider.name, state: 'slots' }, jobs.capacity);
      }
    },
  });
}

/** The same providers, each provider call timed into `registry`, their job slots gauged. */
export function timedProviders(providers: Providers, registry: Registry): Providers {
  const observer = createProviderObserver(registry);
  registerJobGauge(providers, registry);
  return {
    ...providers,
    transcriber: timedTranscriber(providers.transcriber, observer),
    responder: timedResponder(providers.responder, observer),
    synthesizer: timedSynthesizer(providers.synthesizer, observer),
    close: () => providers.close(),
  };
}
