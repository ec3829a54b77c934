/**
 * Shutting the server down does not wait on a connection that never sent a request (a
 * browser's preconnect): the server closes that connection itself within its shutdown grace,
 * where Node alone would hold close() for its 60 s headers timeout (the test's time limit
 * fails it then).
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { startTestServer } from '../helpers/server.ts';

test('an idle connection that never sent a request does not hold the shutdown', { timeout: 30_000 }, async () => {
  const server = await startTestServer({});
  const socket = connect(server.port, '127.0.0.1');
  await once(socket, 'connect');
  const closedByServer = once(socket, 'close');
  await server.close();
  await closedByServer;
  assert.equal(socket.destroyed, true, 'the server ended the idle connection');
});
