// A per-registry retry budget: a token bucket in the spirit of the AWS SDK retry quota (500 tokens,
// 5 per retry, +1 per success) and gRPC retry throttling, sized for one CI batch instead of a
// long-lived service. First attempts are free; only retries draw tokens; successes refund them.
// Integer units, so the accounting is exact (no 0.1 + 0.2 drift) and tests assert exact counts.

export interface BudgetOptions {
  /** Tokens in a full bucket; the bucket starts full. Default 50 (= 10 retries of burst). */
  readonly capacity: number;
  /** Tokens one retry costs. Default 5. */
  readonly retryCost: number;
  /** Tokens one successful attempt refunds, up to capacity. Default 1 (one retry earned per 5 successes: retries stay <= ~20 % of traffic). */
  readonly successRefund: number;
}

export const DEFAULT_BUDGET_OPTIONS: BudgetOptions = {
  capacity: 50,
  retryCost: 5,
  successRefund: 1,
};

export interface RetryBudget {
  /** Takes the cost of one retry; false (and nothing taken) when the bucket holds less than that. */
  tryAcquire(): boolean;
  /** Refunds one success's worth of tokens, never beyond capacity. */
  onSuccess(): void;
  /** Tokens in the bucket now. */
  readonly available: number;
  readonly capacity: number;
  /** Retries the bucket could pay for right now. */
  readonly retriesLeft: number;
}

export function createRetryBudget(options: Partial<BudgetOptions> = {}): RetryBudget {
  const o = { ...DEFAULT_BUDGET_OPTIONS, ...options };
  nonNegativeInteger("capacity", o.capacity, 1);
  nonNegativeInteger("retryCost", o.retryCost, 1);
  nonNegativeInteger("successRefund", o.successRefund, 0);
  if (o.retryCost > o.capacity) {
    throw new RangeError(`budget option retryCost (${o.retryCost}) must not exceed capacity (${o.capacity})`);
  }
  let tokens = o.capacity;
  return {
    get available() {
      return tokens;
    },
    capacity: o.capacity,
    get retriesLeft() {
      return Math.floor(tokens / o.retryCost);
    },
    tryAcquire() {
      if (tokens < o.retryCost) return false;
      tokens -= o.retryCost;
      return true;
    },
    onSuccess() {
      tokens = Math.min(o.capacity, tokens + o.successRefund);
    },
  };
}

function nonNegativeInteger(name: string, value: number, min: number): void {
  if (!(Number.isInteger(value) && value >= min)) {
    throw new RangeError(`budget option ${name} must be an integer >= ${min}, got ${String(value)}`);
  }
}
