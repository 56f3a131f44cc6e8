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
  /**
   * Spacing of direct probes (a manifest HEAD, see Gate.probeWith): cheap for the registry and no
   * engine slot, so they go about once a second instead of doubling. Default 1000, ±10 %.
   */
  readonly directProbeMs: number;
  readonly directProbeJitter: number;
  /**
   * The release spread when a direct probe opened the gate. A HEAD that succeeded says the registry
   * serves manifests again; the preflights and pulls behind it need not trickle out over a whole
   * second (which the bench saw as recovery latency). Default 250.
   */
  readonly directReleaseSpreadMs: number;
}

/**
 * What a direct probe learned: the registry serves ("up"), still fails ("down"), asked us to wait
 * until a time (`until`, a Retry-After), or cannot be reached directly ("unreachable": the gate
 * falls back to letting a waiter's engine attempt probe).
 */
export type DirectProbeAnswer = "up" | "down" | "unreachable" | { readonly until: number; readonly reason: string };

/** Runs one direct probe, for the registry of `image` (the oldest waiter's). */
export type DirectProbe = (image: string) => Promise<DirectProbeAnswer>;

export const DEFAULT_GATE_OPTIONS: GateOptions = {
  firstProbeMs: 1000,
  probeCapMs: 4000,
  probeJitter: 0.2,
  releaseSpreadMs: 1000,
  flapWindowMs: 30_000,
  maxFlapDoublings: 3,
  directProbeMs: 1000,
  directProbeJitter: 0.1,
  directReleaseSpreadMs: 250,
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
  /**
   * Resolves when the pull may start an attempt; rejects with signal.reason if aborted first.
   * `mayProbe: false` (a manifest check, not an engine attempt) never becomes the probe: without
   * direct probes such a waiter is let through at once, since only an engine attempt could probe.
   */
  pass(image: string, signal: AbortSignal, options?: { readonly mayProbe?: boolean }): Promise<GatePass>;
  /**
   * The registry asked for no requests before `until` (a Retry-After): closes the gate (or keeps
   * it closed) with no probe and no opening before then.
   */
  closeUntil(until: number, reason: string): void;
  /** Probes by manifest HEAD instead of by a waiter's engine attempt, until a probe answers "unreachable". */
  probeWith(probe: DirectProbe | undefined): void;
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
  readonly mayProbe: boolean;
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
  #direct: DirectProbe | undefined;
  /** No probe and no opening before this clock time (a Retry-After). */
  #notBefore = 0;

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

  pass(image: string, signal: AbortSignal, options: { readonly mayProbe?: boolean } = {}): Promise<GatePass> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.#state.kind === "open") return Promise.resolve({ probe: 0, waitedMs: 0 });
    return new Promise<GatePass>((resolve, reject) => {
      const waiter: Waiter = {
        seq: this.#seq++,
        image,
        mayProbe: options.mayProbe ?? true,
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
    return this.#open(this.options.releaseSpreadMs);
  }

  #open(spreadMs: number): boolean {
    const s = this.#state;
    if (s.kind === "open") return false;
    // The registry said when: an answer before then (an attempt already in flight) does not open early.
    if (this.clock.now() < this.#notBefore) return false;
    const waiters = this.#queue;
    this.#queue = [];
    this.#transition({ kind: "open", flaps: s.flaps, openedAt: this.clock.now() }, waiters.length);
    waiters.forEach((waiter, index) => this.#release(waiter, releaseDelay(index, waiters.length, spreadMs, this.random())));
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

  closeUntil(until: number, reason: string): void {
    this.#notBefore = Math.max(this.#notBefore, until);
    const s = this.#state;
    const now = this.clock.now();
    if (s.kind === "open") {
      this.#transition({ kind: "closed", since: now, reason, probes: 0, flaps: s.flaps, nextProbeAt: this.#notBefore });
    } else if (s.kind === "closed") {
      this.#transition({ ...s, reason, nextProbeAt: Math.max(s.nextProbeAt, this.#notBefore) });
    }
    // probing: the probe's answer decides, and no later probe goes before #notBefore.
  }

  probeWith(probe: DirectProbe | undefined): void {
    this.#direct = probe;
    this.#schedule();
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
    const o = this.options;
    const delay = this.#direct
      ? Math.round(o.directProbeMs * (1 - o.directProbeJitter + 2 * o.directProbeJitter * this.random()))
      : probeDelay(sent, flaps, o, this.random());
    return Math.max(delay, this.#notBefore - this.clock.now());
  }

  /** Probes when one is due (by HEAD, or by letting the oldest waiter go); otherwise sleeps exactly until the next probe time. */
  #schedule(due = false): void {
    const s = this.#state;
    if (s.kind !== "closed" || this.#queue.length === 0) return this.#cancelTimer();
    if (!this.#direct && this.#queue.some((w) => !w.mayProbe)) {
      // Only an engine attempt can probe now: manifest checks waiting here go on (to their attempts).
      const checks = this.#queue.filter((w) => !w.mayProbe);
      this.#queue = this.#queue.filter((w) => w.mayProbe);
      for (const w of checks) {
        w.signal.removeEventListener("abort", w.onAbort);
        w.resolve({ probe: 0, waitedMs: this.clock.now() - w.enqueuedAt });
      }
      if (this.#queue.length === 0) return this.#cancelTimer();
    }
    const now = this.clock.now();
    if (due || now >= s.nextProbeAt) {
      this.#cancelTimer();
      if (this.#direct) return this.#probeDirect(s, this.#direct, (this.#queue[0] as Waiter).image);
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

  /** One manifest HEAD as the probe: no waiter goes until it says the registry serves. */
  #probeDirect(s: Extract<GateState, { kind: "closed" }>, probe: DirectProbe, image: string): void {
    const number = s.probes + 1;
    this.#transition({ kind: "probing", since: s.since, probe: number, image, flaps: s.flaps });
    const current = () => this.#state.kind === "probing" && this.#state.probe === number;
    probe(image).then(
      (answer) => {
        if (!current()) return;
        if (answer === "up") {
          if (!this.#open(this.options.directReleaseSpreadMs)) this.probeFailed(number, "the registry answers, but asked to wait longer");
        } else if (answer === "unreachable") {
          this.#direct = undefined;
          this.probeAbandoned(number);
        } else if (answer === "down") {
          this.probeFailed(number);
        } else {
          this.#notBefore = Math.max(this.#notBefore, answer.until);
          this.probeFailed(number, answer.reason);
        }
      },
      () => {
        if (current()) this.probeFailed(number, "the probe could not be made");
      },
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
  check("directProbeMs", positive(o.directProbeMs), "a positive number of milliseconds");
  check("directProbeJitter", o.directProbeJitter >= 0 && o.directProbeJitter < 1, "a fraction in [0, 1)");
  check("directReleaseSpreadMs", Number.isFinite(o.directReleaseSpreadMs) && o.directReleaseSpreadMs >= 0, "a number of milliseconds >= 0");
  return o;
}
