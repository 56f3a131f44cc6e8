export { classify } from "./classify.js";
export type { Classification, Failure } from "./classify.js";
