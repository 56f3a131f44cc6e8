/** prepull's exit codes, for the CLI and for library callers that mirror them. */
export const EXIT = {
  /** Every image pulled, present or skipped. */
  ok: 0,
  /** At least one image failed. */
  failed: 1,
  /** Usage error or bad input; nothing was pulled. */
  usage: 2,
  /** The engine could not be reached. */
  engineUnreachable: 3,
  sigint: 130,
  sigterm: 143,
} as const;
