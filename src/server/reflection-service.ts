import {
  create,
  type DescEnum,
  type DescExtension,
  type DescFile,
  type DescMessage,
  type DescService,
  fromBinary,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import {
  type ServerReflectionRequest,
  ServerReflectionRequestSchema,
  type ServerReflectionResponse,
  ServerReflectionResponseSchema,
  ServerReflection as ServerReflectionV1,
} from "../gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflectionRequestSchema as AlphaRequestSchema,
  ServerReflectionResponseSchema as AlphaResponseSchema,
  ServerReflection as ServerReflectionV1Alpha,
} from "../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** The reflection services' names: public, like health, so tools discover the API without a sig. */
export const REFLECTION_SERVICES = [ServerReflectionV1.typeName, ServerReflectionV1Alpha.typeName];

/**
 * Adds gRPC server reflection (v1 and the v1alpha that older grpcurl and GUI clients
 * still ask for) describing every service registered so far on `router`, plus itself.
 * Register it last. Only the files those services reach are served, so messages that
 * no public service uses (proto/im/internal) stay out.
 */
export function registerReflection(router: ConnectRouter): void {
  const services = new Map<string, DescService>();
  for (const handler of router.handlers) services.set(handler.service.typeName, handler.service);
  services.set(ServerReflectionV1.typeName, ServerReflectionV1);
  services.set(ServerReflectionV1Alpha.typeName, ServerReflectionV1Alpha);
  const answer = createReflectionAnswerer([...services.values()]);

  router.service(ServerReflectionV1, {
    async *serverReflectionInfo(requests) {
      const session = answer();
      for await (const req of requests) yield session(req);
    },
  } satisfies ServiceImpl<typeof ServerReflectionV1>);
  // v1alpha is wire-identical to v1 (same fields and numbers): translate through the wire.
  router.service(ServerReflectionV1Alpha, {
    async *serverReflectionInfo(requests) {
      const session = answer();
      for await (const req of requests) {
        const v1 = fromBinary(ServerReflectionRequestSchema, toBinary(AlphaRequestSchema, req));
        const res = session(v1);
        yield fromBinary(AlphaResponseSchema, toBinary(ServerReflectionResponseSchema, res));
      }
    },
  } satisfies ServiceImpl<typeof ServerReflectionV1Alpha>);
}

type Answer = (req: ServerReflectionRequest) => ServerReflectionResponse;
type Reply = MessageInitShape<typeof ServerReflectionResponseSchema>["messageResponse"];

/**
 * Indexes the files of `services` and their dependencies once; each call starts one
 * stream's session, which (as grpc-go does) sends each file at most once per stream:
 * the requested file first, then those of its dependencies the client has not had yet.
 */
export function createReflectionAnswerer(services: DescService[]): () => Answer {
  const files = new Map<string, DescFile>();
  // DescFile.name lacks the ".proto" suffix; clients ask for (and import) the full path.
  const addFile = (file: DescFile) => {
    if (files.has(file.proto.name)) return;
    files.set(file.proto.name, file);
    for (const dep of file.dependencies) addFile(dep);
  };
  for (const service of services) addFile(service.file);

  const symbols = new Map<string, DescFile>();
  const extensions: DescExtension[] = [];
  for (const file of files.values()) indexFile(file, symbols, extensions);
  const serviceNames = services.map((s) => s.typeName).sort();
  const encoded = new Map<string, Uint8Array>();
  const encode = (file: DescFile) => {
    let bytes = encoded.get(file.name);
    if (bytes === undefined) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      encoded.set(file.name, bytes);
    }
    return bytes;
  };

  return () => {
    const sent = new Set<string>();
    const fileResponse = (file: DescFile): Reply => {
      const out: Uint8Array[] = [];
      const visit = (f: DescFile, requested: boolean) => {
        if (sent.has(f.name) && !requested) return;
        sent.add(f.name);
        out.push(encode(f));
        for (const dep of f.dependencies) visit(dep, false);
      };
      visit(file, true);
      return { case: "fileDescriptorResponse", value: { fileDescriptorProto: out } };
    };
    const notFound = (what: string): Reply => ({
      case: "errorResponse",
      value: { errorCode: Code.NotFound, errorMessage: `${what} not found` },
    });

    return (req) => {
      const r = req.messageRequest;
      let messageResponse: Reply;
      switch (r.case) {
        case "fileByFilename": {
          const file = files.get(r.value);
          messageResponse = file ? fileResponse(file) : notFound(`file ${r.value}`);
          break;
        }
        case "fileContainingSymbol": {
          const file = symbols.get(r.value);
          messageResponse = file ? fileResponse(file) : notFound(`symbol ${r.value}`);
          break;
        }
        case "fileContainingExtension": {
          const { containingType, extensionNumber } = r.value;
          const ext = extensions.find(
            (e) => e.extendee.typeName === containingType && e.number === extensionNumber,
          );
          messageResponse = ext
            ? fileResponse(ext.file)
            : notFound(`extension ${extensionNumber} of ${containingType}`);
          break;
        }
        case "allExtensionNumbersOfType": {
          const type = r.value;
          messageResponse = symbols.has(type)
            ? {
                case: "allExtensionNumbersResponse",
                value: {
                  baseTypeName: type,
                  extensionNumber: extensions
                    .filter((e) => e.extendee.typeName === type)
                    .map((e) => e.number),
                },
              }
            : notFound(`type ${type}`);
          break;
        }
        case "listServices":
          messageResponse = {
            case: "listServicesResponse",
            value: { service: serviceNames.map((name) => ({ name })) },
          };
          break;
        default:
          throw new ConnectError(
            "reflection request without a message_request",
            Code.InvalidArgument,
          );
      }
      return create(ServerReflectionResponseSchema, {
        validHost: req.host,
        originalRequest: req,
        messageResponse,
      });
    };
  };
}

/** Every fully-qualified name a client may ask for, as protoc scopes them. */
function indexFile(file: DescFile, symbols: Map<string, DescFile>, extensions: DescExtension[]) {
  const addEnum = (e: DescEnum) => {
    symbols.set(e.typeName, file);
    // Enum values are scoped next to their enum, not inside it.
    const scope = e.typeName.slice(0, e.typeName.length - e.name.length);
    for (const v of e.values) symbols.set(scope + v.name, file);
  };
  const addExtension = (x: DescExtension) => {
    symbols.set(x.typeName, file);
    extensions.push(x);
  };
  const addMessage = (m: DescMessage) => {
    symbols.set(m.typeName, file);
    for (const f of m.fields) symbols.set(`${m.typeName}.${f.name}`, file);
    for (const o of m.oneofs) symbols.set(`${m.typeName}.${o.name}`, file);
    m.nestedMessages.forEach(addMessage);
    m.nestedEnums.forEach(addEnum);
    m.nestedExtensions.forEach(addExtension);
  };
  file.messages.forEach(addMessage);
  file.enums.forEach(addEnum);
  file.extensions.forEach(addExtension);
  for (const s of file.services) {
    symbols.set(s.typeName, file);
    for (const m of s.methods) symbols.set(`${s.typeName}.${m.name}`, file);
  }
}
