import { requireCaller } from "../auth/caller.js";
import { type Component, noBusHandlers, nothingToStop } from "../common/component.js";
import { TypingService } from "../gen/im/v1/typing_pb.js";
import { createSendTyping, type TypingDeps } from "./typing.js";

/** Typing status in one-to-one conversations: TypingService, live only. */
export function setupTyping(deps: TypingDeps): Component {
  const sendTyping = createSendTyping(deps);
  return {
    services: [
      (router) =>
        router.service(TypingService, {
          async sendTyping(req, ctx) {
            await sendTyping(requireCaller(ctx), req.toUserId, req.state);
            return {};
          },
        }),
    ],
    busHandlers: noBusHandlers,
    workers: [],
    stop: nothingToStop,
  };
}
