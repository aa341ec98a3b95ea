/**
 * `vigil-audit/nestjs` (SPEC §1): vigil for NestJS applications on the Express or the
 * Fastify adapter — `AuditModule.forRoot(options)` / `forRootAsync(...)`, the engine as an
 * injectable provider (`AUDIT_ENGINE`, or the `AuditEngine` class), one `HTTP_REQUEST`
 * event and an ambient scope per request, `@Audit(options)` for handlers, and
 * `PERMISSION_DENIED` security events for guards' denials.
 *
 * @example
 * import { Module, Controller, Get, Param, Inject } from "@nestjs/common";
 * import { AuditModule, Audit, AUDIT_ENGINE } from "vigil-audit/nestjs";
 *
 * @Controller("orders")
 * class OrdersController {
 *   @Get(":id")
 *   @Audit({ category: "ORDERS", actionType: "ORDER_VIEW", resource: (req) => ({ type: "order", id: req.params.id }) })
 *   find(@Param("id") id: string) { ... }
 * }
 *
 * @Module({ imports: [AuditModule.forRoot({ config: "config/audit.yaml" })], controllers: [OrdersController] })
 * export class AppModule {}
 *
 * @module
 */
export { AuditEngine } from "../../engine.js";
export { defaultActor, parseTraceparent } from "../http-common.js";
export { Audit, type AuditDecorator, type AuditOptions, type NestRequest } from "./decorator.js";
export type { NestHttpAuditOptions, NestHttpRequest } from "./http.js";
export { AuditGuard, AuditInterceptor } from "./interceptor.js";
export {
  AUDIT_ENGINE,
  AUDIT_MODULE_OPTIONS,
  AuditModule,
  type AuditModuleAsyncOptions,
  type AuditModuleOptions,
} from "./module.js";
