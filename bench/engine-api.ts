// The two Engine API calls the benchmark needs besides pulling: is an image on the engine, and
// remove it. Asynchronous over the isolated engine's unix socket (never the docker CLI, never sync).
import { request } from "node:http";

interface Answer {
  readonly status: number;
  readonly body: string;
}

function call(socketPath: string, method: string, path: string, timeoutMs = 60_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`engine ${method} ${path}: no answer in ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

export interface EngineApi {
  /** GET /images/{ref}/json answers 200. */
  hasImage(reference: string): Promise<boolean>;
  /** How many of the references are on the engine. */
  countPresent(references: readonly string[]): Promise<number>;
  /** DELETE /images/{ref}?force=1 for each present reference (the layers go with the image). */
  removeImages(references: readonly string[]): Promise<void>;
}

export function engineApi(socketPath: string): EngineApi {
  const hasImage = async (reference: string): Promise<boolean> => (await call(socketPath, "GET", `/images/${reference}/json`)).status === 200;
  return {
    hasImage,
    async countPresent(references) {
      let present = 0;
      for (const reference of references) if (await hasImage(reference)) present++;
      return present;
    },
    async removeImages(references) {
      for (const reference of references) {
        const answer = await call(socketPath, "DELETE", `/images/${reference}?force=1`);
        if (answer.status !== 200 && answer.status !== 404) {
          throw new Error(`engine DELETE /images/${reference}: HTTP ${answer.status} ${answer.body.trim()}`);
        }
      }
    },
  };
}
