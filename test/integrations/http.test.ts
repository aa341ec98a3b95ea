/**
 * The shared HTTP behaviour suite (`http-suite.ts`) on Express 5 and 4, Fastify 5,
 * node:http, Koa and Hono, over real loopback connections.
 */
import { harnesses } from "./http-harness.js";
import { httpBehaviourSuite } from "./http-suite.js";

for (const harness of harnesses) httpBehaviourSuite(harness);
