/**
 * `vigil-audit/viewer` — the web viewer as a request handler for Express, Fastify and
 * `node:http` (SPEC §1), and the signed, expiring viewer tokens a host hands to its
 * customers. See docs/viewer.md.
 *
 * @example
 * import { auditViewer, createViewerToken } from "vigil-audit/viewer";
 * app.use("/admin/audit", auditViewer({ engine, authorize: (req) => req.user && { actor: { id: req.user.id }, tenant: req.user.orgId } }));
 *
 * @module
 */
export { type AuditViewerHandler, type AuditViewerOptions, auditViewer } from "./handler.js";
export { DEFAULT_LIMITS, type ViewerLimits } from "./params.js";
export {
  createViewerToken,
  VIEWER_SCOPES,
  type ViewerIdentity,
  type ViewerScope,
  ViewerTokenError,
  type ViewerTokenOptions,
  verifyViewerToken,
} from "./token.js";
