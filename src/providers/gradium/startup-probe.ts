/**
 * The start-up check of a Gradium endpoint: connect, send the setup the provider will use,
 * wait for `ready`, then end the session. A wrong key, an unknown model or voice, an
 * unreachable host or a wrong base URL fail here, each with the variable to fix, so the
 * gateway never starts on an upstream that would fail every turn. It costs one session of no
 * audio (Gradium answers `ready` in ~50–100 ms).
 */
import { GradiumSocket, type SocketEnd } from './gradium-socket.ts';
import type { SttSetup, TtsSetup } from './messages.ts';
import { closedError, describeUpstream, errorMessageError, timeoutError, type GradiumContext } from './upstream-errors.ts';
import { SpeechbridgeError } from '../../errors/registry.ts';

export interface ProbeResult {
  /** Gradium's id of the probe session, for its support. */
  requestId?: string;
  sampleRate?: number;
}

export async function probeGradium(context: GradiumContext, setup: SttSetup | TtsSetup, timeoutMs: number, expectedSampleRate?: number): Promise<ProbeResult> {
  let socket!: GradiumSocket;
  const result = new Promise<ProbeResult>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const fail = (error: Error) => {
      clearTimeout(timer);
      reject(error);
    };
    socket = new GradiumSocket({
      context,
      connectTimeoutMs: timeoutMs,
      onMessage: (message) => {
        if (message.type === 'error') fail(errorMessageError(context, message));
        if (message.type !== 'ready') return;
        clearTimeout(timer);
        if (expectedSampleRate !== undefined && message.sample_rate !== undefined && message.sample_rate !== expectedSampleRate) {
          reject(
            new SpeechbridgeError(
              'upstream_bad_response',
              `${describeUpstream(context)} works at ${message.sample_rate} Hz for format ${'input_format' in setup ? setup.input_format : setup.output_format}, where its documentation says ${expectedSampleRate} Hz`,
            ),
          );
          return;
        }
        resolve({
          ...(message.request_id !== undefined && { requestId: message.request_id }),
          ...(message.sample_rate !== undefined && { sampleRate: message.sample_rate }),
        });
      },
      onEnd: (end: SocketEnd) => {
        if (end.byUs && !end.error) return;
        fail(end.error ?? closedError(context, end.code, end.reason, 'before ready'));
      },
    });
    socket.send(setup);
    socket.opened.then(
      () => {
        timer = setTimeout(() => fail(timeoutError(context, 'ready after setup', timeoutMs)), timeoutMs);
      },
      () => {},
    );
  });
  try {
    return await result;
  } finally {
    if (socket.isOpen) socket.send({ type: 'end_of_stream' });
    socket.close(1000);
  }
}
