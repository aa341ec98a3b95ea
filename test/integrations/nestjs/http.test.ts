/**
 * The shared HTTP behaviour suite (`../http-suite.ts`) on a real NestJS application, with
 * the Express and the Fastify adapter: the module's per-request event and scope behave as
 * `expressAuditMiddleware` does.
 */
import { httpBehaviourSuite } from "../http-suite.js";
import { nestHarness } from "./app.js";

httpBehaviourSuite(nestHarness("express"));
httpBehaviourSuite(nestHarness("fastify"));
