import { describe, it } from "vitest";
import { dockerEngineAnswers } from "../services/docker.js";

/**
 * Runs `body` as a describe block when a Docker engine answers. Without one it fails when
 * IM_TEST_DOCKER=required (CI), and otherwise is skipped under a title that says why, never
 * silently.
 */
export async function describeWithDocker(name: string, body: () => void): Promise<void> {
  if (await dockerEngineAnswers()) {
    describe(name, body);
    return;
  }
  const why = "no Docker engine answered (DOCKER_HOST; test/services/docker-engine.sh starts one)";
  if (process.env.IM_TEST_DOCKER === "required") {
    describe(name, () => {
      it("has a Docker engine (IM_TEST_DOCKER=required)", () => {
        throw new Error(why);
      });
    });
  } else {
    describe.skip(`${name} — skipped: ${why}`, body);
  }
}
