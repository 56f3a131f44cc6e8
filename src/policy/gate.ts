// The outage gate of one registry: a small state machine over a Clock and a Random.
//
//   open ──close(reason)──▶ closed ──probe due and someone waiting──▶ probing
//     ▲                       ▲                                          │
//     │                       └────────── probeFailed / probeAbandoned ◀─┤
//     └──────────────────────── open() (the registry answered) ◀─────────┘  (also from closed)
//
// While the gate is not open, pulls queue (FIFO) and at most one of them, the probe, is let
// through at a time; probes are spaced by capped exponential backoff with jitter. When the gate
// opens, every waiter is released, spread over releaseSpreadMs so a registry that comes back weak
// does not get a synchronized herd. The state is a discriminated union changed in exactly one
// function (#transition), and every change emits a PullEvent. Whether to close is decided
// elsewhere (trip.ts, budget.ts); this file only acts.
import type { Clock, PullEvent, Random } from "../types.js";

export interface GateOptions {
  /** Delay from closing to the first probe. Default 1000. */
  readonly firstProbeMs: number;
  /** Longest nominal delay between probes; the delay doubles from firstProbeMs up to this. Default 4000. */
  readonly probeCapMs: number;
  /** Probe delays are scaled by a uniform factor in [1 − jitter, 1 + jitter]. Default 0.2. */
  readonly probeJitter: number;
  /** Waiters released by an opening are spread over this window, in FIFO order. Default 1000. */
  readonly releaseSpreadMs: number;
  /** A gate that closes again within this long after opening is flapping. Default 30 000. */
  readonly flapWindowMs: number;
  /** Each flap doubles the first probe delay, at most this many times (and never beyond probeCapMs). Default 3. */
  readonly maxFlapDoublings: number;
}

export const DEFAULT_GATE_OPTIONS: GateOptions = {
  firstProbeMs: 1000,
  probeCapMs: 4000,
  probeJitter: 0.2,
  releaseSpreadMs: 1000,
  flapWindowMs: 30_000,
  maxFlapDoublings: 3,
};

export type GateState =
  | { readonly kind: "open"; readonly flaps: number; readonly openedAt?: number }
  | {
      readonly kind: "closed";
      readonly since: number;
      readonly reason: string;
      /** Probes sent since the gate closed. */
      readonly probes: number;
      readonly nextProbeAt: number;
      readonly flaps: number;
    }
  | { readonly kind: "probing"; readonly since: number; readonly probe: number; readonly image: string; readonly flaps: number };

/** What a pull gets when the gate lets it through. */
export interface GatePass {
  /** The probe number (1, 2, …) when this pull is the gate's probe; 0 otherwise. */
  readonly probe: number;
  /** How long the pull waited behind the gate. */
  readonly waitedMs: number;
}

export interface Gate {
  readonly registry: string;
  readonly state: GateState;
  /** Pulls waiting behind the gate, including those released but not yet past their spread delay. */
  readonly waiting: number;
  /** Total time the gate has been closed (or probing) so far, the current closure included. */
  closedMs(): number;
  /** Resolves when the pull may start an attempt; rejects with signal.reason if aborted first. */
  pass(image: string, signal: AbortSignal): Promise<GatePass>;
  /** open → closed. False (and nothing changes) when the gate is not open. */
  close(reason: string): boolean;
  /** closed | probing → open, releasing every waiter. False when already open. */
  open(): boolean;
  /** The probe failed transiently: back to closed, next probe after a longer delay. False when `probe` is not the current probe. */
  probeFailed(probe: number, detail?: string): boolean;
  /** The probe will never report (aborted): back to closed and let the next waiter probe at once, without growing the delay. */
  probeAbandoned(probe: number): boolean;
}

/**
 * Nominal delay before probe number `sent + 1`, `sent` probes after closing, for a gate that has
 * flapped `flaps` times: min(cap, first · 2^(sent + flaps)), scaled by 1 ± jitter from `r` ∈ [0, 1).
 * With r = 0.5 it is exactly the nominal delay.
 */
export function probeDelay(sent: number, flaps: number, options: GateOptions, r: number): number {
  const nominal = Math.min(options.probeCapMs, options.firstProbeMs * 2 ** (sent + flaps));
  return Math.round(nominal * (1 - options.probeJitter + 2 * options.probeJitter * r));
}

/**
 * Release delay of waiter `index` (0 = oldest) of `count`: the spread window is cut into `count`
 * equal slots and each waiter goes at a random point of its own slot, so the order stays FIFO and
 * no two waiters can clump together.
 */
export function releaseDelay(index: number, count: number, spreadMs: number, r: number): number {
  return Math.round(((index + r) * spreadMs) / count);
}

interface Waiter {
  readonly seq: number;
  readonly image: string;
  readonly signal: AbortSignal;
  readonly enqueuedAt: number;
  readonly resolve: (pass: GatePass) => void;
  readonly reject: (reason: unknown) => void;
  readonly onAbort: () => void;
}

export function createGate(init: { registry: string; clock: Clock; random: Random; emit: (event: PullEvent) => void; options?: Partial<GateOptions> }): Gate {
  return new OutageGate(init.registry, init.clock, init.random, init.emit, validateGateOptions({ ...DEFAULT_GATE_OPTIONS, ...init.options }));
}

class OutageGate implements Gate {
  #state: GateState = { kind: "open", flaps: 0 };
  #queue: Waiter[] = [];
  #releasing = new Set<Waiter>();
  #seq = 0;
  #closedTotal = 0;
  #timer: { readonly at: number; readonly controller: AbortController } | undefined;

  constructor(
    readonly registry: string,
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly emit: (event: PullEvent) => void,
    private readonly options: GateOptions,
  ) {}

  get state(): GateState {
    return this.#state;
  }

  get waiting(): number {
    return this.#queue.length + this.#releasing.size;
  }

  closedMs(): number {
    const s = this.#state;
    return this.#closedTotal + (s.kind === "open" ? 0 : this.clock.now() - s.since);
  }

  pass(image: string, signal: AbortSignal): Promise<GatePass> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.#state.kind === "open") return Promise.resolve({ probe: 0, waitedMs: 0 });
    return new Promise<GatePass>((resolve, reject) => {
      const waiter: Waiter = {
        seq: this.#seq++,
        image,
        signal,
        enqueuedAt: this.clock.now(),
        resolve,
        reject,
        onAbort: () => {
          this.#queue = this.#queue.filter((w) => w !== waiter);
          reject(signal.reason);
          this.#schedule();
        },
      };
      this.#enqueue(waiter);
      this.#schedule();
    });
  }

  close(reason: string): boolean {
    const s = this.#state;
    if (s.kind !== "open") return false;
    const now = this.clock.now();
    const flapped = s.openedAt !== undefined && now - s.openedAt <= this.options.flapWindowMs;
    const flaps = flapped ? Math.min(s.flaps + 1, this.options.maxFlapDoublings) : 0;
    this.#transition({ kind: "closed", since: now, reason, probes: 0, flaps, nextProbeAt: now + this.#probeDelay(0, flaps) });
    return true;
  }

  open(): boolean {
    const s = this.#state;
    if (s.kind === "open") return false;
    const waiters = this.#queue;
    this.#queue = [];
    this.#transition({ kind: "open", flaps: s.flaps, openedAt: this.clock.now() }, waiters.length);
    waiters.forEach((waiter, index) => this.#release(waiter, releaseDelay(index, waiters.length, this.options.releaseSpreadMs, this.random())));
    return true;
  }

  probeFailed(probe: number, detail?: string): boolean {
    const s = this.#state;
    if (s.kind !== "probing" || s.probe !== probe) return false;
    const now = this.clock.now();
    const reason = `probe ${probe} failed${detail ? `: ${detail}` : ""}`;
    this.#transition({ kind: "closed", since: s.since, reason, probes: probe, flaps: s.flaps, nextProbeAt: now + this.#probeDelay(probe, s.flaps) });
    return true;
  }

  probeAbandoned(probe: number): boolean {
    const s = this.#state;
    if (s.kind !== "probing" || s.probe !== probe) return false;
    this.#transition({ kind: "closed", since: s.since, reason: `probe ${probe} abandoned`, probes: probe - 1, flaps: s.flaps, nextProbeAt: this.clock.now() });
    return true;
  }

  /** The one place the state changes. Emits the matching event, then re-arms the probe timer. */
  #transition(next: GateState, released = 0): void {
    const previous = this.#state;
    const at = this.clock.now();
    this.#state = next;
    switch (next.kind) {
      case "closed":
        this.emit({ type: "gate-closed", at, registry: this.registry, reason: next.reason, nextProbeAt: next.nextProbeAt });
        break;
      case "probing":
        this.emit({ type: "gate-probe", at, registry: this.registry, image: next.image, probe: next.probe });
        break;
      case "open": {
        const closedMs = previous.kind === "open" ? 0 : at - previous.since;
        this.#closedTotal += closedMs;
        this.emit({ type: "gate-opened", at, registry: this.registry, released, closedMs });
        break;
      }
    }
    this.#schedule();
  }

  #probeDelay(sent: number, flaps: number): number {
    return probeDelay(sent, flaps, this.options, this.random());
  }

  /** Lets the oldest waiter probe when one is due; otherwise sleeps exactly until the next probe time. */
  #schedule(due = false): void {
    const s = this.#state;
    if (s.kind !== "closed" || this.#queue.length === 0) return this.#cancelTimer();
    const now = this.clock.now();
    if (due || now >= s.nextProbeAt) {
      this.#cancelTimer();
      const waiter = this.#queue.shift() as Waiter;
      waiter.signal.removeEventListener("abort", waiter.onAbort);
      this.#transition({ kind: "probing", since: s.since, probe: s.probes + 1, image: waiter.image, flaps: s.flaps });
      waiter.resolve({ probe: s.probes + 1, waitedMs: now - waiter.enqueuedAt });
      return;
    }
    if (this.#timer?.at === s.nextProbeAt) return;
    this.#cancelTimer();
    const timer = { at: s.nextProbeAt, controller: new AbortController() };
    this.#timer = timer;
    this.clock.sleep(s.nextProbeAt - now, timer.controller.signal).then(
      () => {
        if (this.#timer !== timer) return;
        this.#timer = undefined;
        const current = this.#state;
        this.#schedule(current.kind === "closed" && current.nextProbeAt === timer.at);
      },
      () => undefined,
    );
  }

  #cancelTimer(): void {
    const timer = this.#timer;
    this.#timer = undefined;
    timer?.controller.abort();
  }

  #enqueue(waiter: Waiter): void {
    waiter.signal.addEventListener("abort", waiter.onAbort, { once: true });
    let i = this.#queue.length;
    while (i > 0 && (this.#queue[i - 1] as Waiter).seq > waiter.seq) i--;
    this.#queue.splice(i, 0, waiter);
  }

  /** Lets one waiter go after its spread delay; if the gate closed again meanwhile, it queues again in its old place. */
  #release(waiter: Waiter, delayMs: number): void {
    waiter.signal.removeEventListener("abort", waiter.onAbort);
    this.#releasing.add(waiter);
    this.clock.sleep(delayMs, waiter.signal).then(
      () => {
        this.#releasing.delete(waiter);
        if (waiter.signal.aborted) {
          waiter.reject(waiter.signal.reason);
        } else if (this.#state.kind === "open") {
          waiter.resolve({ probe: 0, waitedMs: this.clock.now() - waiter.enqueuedAt });
        } else {
          this.#enqueue(waiter);
          this.#schedule();
        }
      },
      (reason: unknown) => {
        this.#releasing.delete(waiter);
        waiter.reject(reason);
      },
    );
  }
}

export function validateGateOptions(o: GateOptions): GateOptions {
  const check = (name: keyof GateOptions, ok: boolean, expected: string) => {
    if (!ok) throw new RangeError(`gate option ${name} must be ${expected}, got ${String(o[name])}`);
  };
  const positive = (v: number) => typeof v === "number" && Number.isFinite(v) && v > 0;
  check("firstProbeMs", positive(o.firstProbeMs), "a positive number of milliseconds");
  check("probeCapMs", positive(o.probeCapMs) && o.probeCapMs >= o.firstProbeMs, "a number of milliseconds >= firstProbeMs");
  check("probeJitter", o.probeJitter >= 0 && o.probeJitter < 1, "a fraction in [0, 1)");
  check("releaseSpreadMs", Number.isFinite(o.releaseSpreadMs) && o.releaseSpreadMs >= 0, "a number of milliseconds >= 0");
  check("flapWindowMs", Number.isFinite(o.flapWindowMs) && o.flapWindowMs >= 0, "a number of milliseconds >= 0");
  check("maxFlapDoublings", Number.isInteger(o.maxFlapDoublings) && o.maxFlapDoublings >= 0, "an integer >= 0");
  return o;
}
