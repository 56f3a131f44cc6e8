export { classify, classifyOwn } from "./classify.js";
export type { Classification, Failure, OwnFailure } from "./classify.js";
