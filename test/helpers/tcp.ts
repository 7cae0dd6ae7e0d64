// A TCP client for the echo server tests: one exchange on a fresh connection.
import { connect } from 'node:net';

/** Sends `text` on a fresh connection and resolves with everything received until the server closes or `expected` bytes came. */
export function exchange(port: number, text: string, expected = Infinity): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    socket.on('data', (data) => {
      received += data.toString();
      if (received.length >= expected) socket.end();
    });
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
  });
}
