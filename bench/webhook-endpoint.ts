import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * The fastest honest app backend: answers every before-send with ALLOW at once,
 * so what the bench measures is the server's cost of calling a hook, not the
 * app's think time. Loopback only.
 */
export interface WebhookEndpoint {
  url: string;
  requests(): number;
  close(): Promise<void>;
}

const ALLOW = JSON.stringify({ action: "BEFORE_SEND_ACTION_ALLOW" });

export async function startAllowEndpoint(): Promise<WebhookEndpoint> {
  let requests = 0;
  const server = createServer((req, res) => {
    // Read the body to the end, as a real endpoint must before it can verify the signature.
    req.resume();
    req.on("end", () => {
      requests++;
      res.writeHead(200, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(ALLOW),
      });
      res.end(ALLOW);
    });
  });
  // The server keeps connections alive between calls; do not cut them at Node's 5 s default.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/im-webhook`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
