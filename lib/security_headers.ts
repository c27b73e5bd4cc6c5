/**
 * Security headers for every HTTP answer but the WebSocket upgrades: a
 * Content-Security-Policy that lets the page run only its own hashed bundle
 * (the page has no inline script; its props are a JSON data block), and
 * Hono's secure-headers defaults (nosniff, no framing, same-origin policies).
 */
import type { MiddlewareHandler } from "hono";
import { secureHeaders } from "hono/secure-headers";

/**
 * The policy, directive by directive. `'self'` in connect-src also covers
 * ws:/wss: to the same host, which is all the sockets need. Images in replies
 * are shown as links, so img-src only needs the app's own files.
 */
export const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'"],
  connectSrc: ["'self'"],
  manifestSrc: ["'self'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  objectSrc: ["'none'"],
};

/**
 * The middleware. HSTS is sent without includeSubDomains: browsers heed it
 * only over HTTPS, and a self-hosted chat server should not decide for the
 * operator's other subdomains.
 */
export function securityHeaders(): MiddlewareHandler {
  return secureHeaders({
    contentSecurityPolicy: CONTENT_SECURITY_POLICY,
    xFrameOptions: "DENY",
    strictTransportSecurity: "max-age=15552000",
  });
}
