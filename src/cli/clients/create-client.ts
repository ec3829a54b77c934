/** Picks the client for a protocol and the endpoint URL it connects to. */
import { DEFAULT_URL, endpointUrl, modeFor } from './client-endpoint.ts';
import { GatewayClient } from './gateway-client.ts';
import { RealtimeClient } from './realtime-client.ts';
import type { ClientOptions, Protocol, SpeechClient } from './speech-client.ts';
import { TranscriptionsClient } from './transcriptions-client.ts';

export { DEFAULT_URL, endpointUrl, modeFor };

export function createClient(protocol: Protocol, options: ClientOptions): SpeechClient {
  switch (protocol) {
    case 'realtime':
      return new RealtimeClient(options);
    case 'gateway':
      return new GatewayClient(options);
    case 'transcriptions':
      return new TranscriptionsClient(options);
  }
}
