// The composition root: the real collaborators of a run (engine client, watchdog, registry
// coordinators, clock, seeded random), wired the same way for the CLI and the library. It lives
// at the edge beside them, so run/ depends only on ports. Tests pass their own clock, random or engine.
import { systemClock } from "./clock/clock.js";
import { connectEngine } from "./engine/client.js";
import { createCredentialStore, type CredentialStore } from "./engine/credentials.js";
import type { Engine } from "./engine/engine.js";
import { createRegistryCoordinator } from "./policy/registry-coordinator.js";
import { seededRandom } from "./policy/random.js";
import { watchAttempt } from "./policy/watchdog.js";
import { createRegistryClient } from "./registry/index.js";
import type { RunDependencies } from "./run/pull-images.js";
import type { Clock, PullEvent, Random, Settings } from "./types.js";

export interface WiringOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly settings: Settings;
  readonly clock?: Clock;
  /** One random for everything; by default the scheduler and each registry get their own seeded stream. */
  readonly random?: Random;
  /** Use this engine instead of connecting through DOCKER_HOST. */
  readonly engine?: Engine;
  /** A docker context by name (--context), instead of DOCKER_HOST / DOCKER_CONTEXT / config.json's currentContext. */
  readonly context?: string;
}

export type Wired = Pick<RunDependencies, "settings" | "clock" | "random" | "connect" | "watchAttempt" | "coordinatorFor" | "registryFor">;

export function wireRun(options: WiringOptions): Wired {
  const clock = options.clock ?? systemClock;
  const { engine, env, context } = options;
  // The one place a run gets its seed when none was given. It goes into the report, so any
  // run's jitter can be replayed with --seed.
  const seed = options.settings.seed ?? Date.now() >>> 0;
  // One credential store for the engine's pulls and prepull's own registry requests: a credential
  // helper runs once per registry. It takes the run's signal (given to connect), which kills a
  // helper that hangs when the run is cancelled.
  let store: CredentialStore | undefined;
  const credentials = (signal?: AbortSignal) => (store ??= createCredentialStore({ env, ...(signal ? { signal } : {}) }));
  return {
    settings: { ...options.settings, seed },
    clock,
    random: options.random ?? seededRandom(seed),
    connect: engine
      ? async () => ({ ok: true, value: engine })
      : (signal) => connectEngine({ env, credentials: credentials(signal), ...(context ? { context } : {}), ...(signal ? { signal } : {}) }),
    // Scheme and trust as the engine decides them: its insecure registries (GET /info) speak plain HTTP.
    // An engine that cannot say which registries it treats as insecure (a custom one given to the
    // library, without registryConfig) leaves scheme and trust unknown: then only it talks to registries.
    registryFor: async (connected, signal) => {
      if (!connected.registryConfig) return undefined;
      const config = await connected.registryConfig(signal).catch(() => undefined);
      return createRegistryClient({ clock, credentials: credentials(signal), env, insecure: config?.insecure ?? [] });
    },
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
