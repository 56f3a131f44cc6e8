// The real collaborators of a run (engine client, watchdog, registry coordinators), wired the same
// way for the CLI and the library. Tests pass their own clock, random or engine.
import { systemClock } from "../clock/clock.js";
import { connectEngine } from "../engine/client.js";
import type { Engine } from "../engine/engine.js";
import { createRegistryCoordinator } from "../policy/registry-coordinator.js";
import { seededRandom } from "../policy/random.js";
import { watchAttempt } from "../policy/watchdog.js";
import type { Clock, PullEvent, Random } from "../types.js";
import type { RunDependencies } from "./pull-images.js";

/** The seed a run uses when none is given; it goes into the report so the run can be replayed. */
export function freshSeed(): number {
  return Date.now() >>> 0;
}

export interface WiringOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly seed: number;
  readonly clock?: Clock;
  /** One random for everything; by default the scheduler and each registry get their own seeded stream. */
  readonly random?: Random;
  /** Use this engine instead of connecting through DOCKER_HOST. */
  readonly engine?: Engine;
  /** A docker context by name (--context), instead of DOCKER_HOST / DOCKER_CONTEXT / config.json's currentContext. */
  readonly context?: string;
}

export function wireRun(options: WiringOptions): Pick<RunDependencies, "clock" | "random" | "connect" | "watchAttempt" | "coordinatorFor"> {
  const clock = options.clock ?? systemClock;
  const { engine, env, seed, context } = options;
  return {
    clock,
    random: options.random ?? seededRandom(seed),
    connect: engine ? async () => ({ ok: true, value: engine }) : (signal) => connectEngine({ env, ...(context ? { context } : {}), ...(signal ? { signal } : {}) }),
    watchAttempt,
    // Each registry draws from its own stream, so adding an image on another registry does not
    // change this registry's probe times for a given seed.
    coordinatorFor: (registry: string, emit: (event: PullEvent) => void) =>
      createRegistryCoordinator({ registry, clock, random: options.random ?? seededRandom(seed ^ hash(registry)), emit }),
  };
}

/** FNV-1a: a stable 32-bit number for a registry name, to derive its seed. */
function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}
