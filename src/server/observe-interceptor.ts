import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { RpcMeter } from "../metrics/meters.js";
import type { Tracing } from "../tracing/tracing.js";

/**
 * Outermost: a server span per call (continuing a caller's `traceparent`) and
 * the RPC metrics, by service, method and Connect code. A unary call ends with
 * its response; a server stream when its last message is out.
 */
export function observeInterceptor(meter: RpcMeter, tracing: Tracing): Interceptor {
  return (next) => (req) => {
    const service = req.service.typeName;
    const method = req.method.name;
    const started = performance.now();
    const finish = (err: unknown) =>
      meter.rpcFinished(service, method, codeOf(err), (performance.now() - started) / 1000);
    const inbound = req.header.get("traceparent");
    return tracing.span(
      `${service}/${method}`,
      async (span) => {
        try {
          const res = await next(req);
          if (!res.stream) {
            finish(undefined);
            return res;
          }
          return { ...res, message: observeStream(res.message, finish) } satisfies StreamResponse;
        } catch (err) {
          finish(err);
          span.setAttribute("rpc.connect_rpc.error_code", codeOf(err));
          throw err;
        }
      },
      {
        kind: "server",
        attributes: { "rpc.system": "connect_rpc", "rpc.service": service, "rpc.method": method },
        ...(inbound === null ? {} : { remoteParent: (name) => req.header.get(name) ?? undefined }),
      },
    );
  };
}

async function* observeStream<T>(messages: AsyncIterable<T>, finish: (err: unknown) => void) {
  let failure: unknown;
  try {
    yield* messages;
  } catch (err) {
    failure = err;
    throw err;
  } finally {
    finish(failure);
  }
}

const codeOf = (err: unknown): string =>
  err === undefined ? "ok" : codeToString(ConnectError.from(err, Code.Internal).code);
