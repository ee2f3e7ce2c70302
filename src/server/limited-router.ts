import type { DescMethod } from "@bufbuild/protobuf";
import { type ConnectRouter, createServiceImplSpec, type MethodImpl } from "@connectrpc/connect";

/**
 * A ConnectRouter whose `service()` registers each method on its own with the
 * method's readMaxBytes, so connect-es enforces a per-RPC limit on the raw
 * body, on each envelope and on the decompressed bytes. Methods the
 * implementation lacks stay Unimplemented, as with `router.service`.
 */
export function limitedRouter(
  router: ConnectRouter,
  readMaxBytesOf: (method: DescMethod) => number,
): ConnectRouter {
  const limited: ConnectRouter = {
    handlers: router.handlers,
    service(service, implementation, options) {
      const spec = createServiceImplSpec(service, implementation);
      for (const method of service.methods) {
        const impl = spec.methods[method.localName]?.impl as MethodImpl<DescMethod>;
        router.rpc(method, impl, { ...options, readMaxBytes: readMaxBytesOf(method) });
      }
      return limited;
    },
    rpc(method, impl, options) {
      router.rpc(method, impl, { ...options, readMaxBytes: readMaxBytesOf(method) });
      return limited;
    },
  };
  return limited;
}
