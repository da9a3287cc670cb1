import { carriesAdminToken } from '@cma-fleet/shared';
import type { RequestHandler } from 'express';

/** What a browser shows in its sign-in prompt; the password is ADMIN_TOKEN. */
const REALM = 'Basic realm="cma-fleet operator (password: ADMIN_TOKEN)", charset="UTF-8"';

/**
 * Lets a request through only with the operator token, as `Authorization: Bearer <token>` or as
 * the password of HTTP basic auth. Anything else gets 401 before any route reads Redis, so not
 * one byte of fleet data, and no dashboard asset, is served without it.
 */
export function requireAdminToken(token: string): RequestHandler {
  return (req, res, next) => {
    if (carriesAdminToken(req.get('authorization'), token)) return next();
    res
      .status(401)
      .set('WWW-Authenticate', REALM)
      .json({ error: 'operator token required: send Authorization: Bearer <ADMIN_TOKEN>' });
  };
}

/** The answer to every admin request while ADMIN_TOKEN is unset: 403, and how to turn it on. */
export const adminDisabled: RequestHandler = (req, res) => {
  const how =
    'The operator view (status page, /workers, /metrics, dashboard, manual controls) is off ' +
    'because ADMIN_TOKEN is not set. Set ADMIN_TOKEN to a random string of at least 24 ' +
    'characters (e.g. `openssl rand -hex 32`) and restart the ingress; then send it as a bearer ' +
    'token, or as the password when the browser asks.';
  if (req.method === 'GET' && req.accepts(['html', 'json']) === 'html') {
    res.status(403).type('html').send(disabledPage(how));
    return;
  }
  res.status(403).json({ error: how });
};

function disabledPage(how: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CMA worker fleet</title>
<style>body{font:14px system-ui,sans-serif;margin:2rem;color:#222;max-width:46rem}</style>
</head><body><h1>CMA worker fleet</h1><p>${how.replace(/`([^`]+)`/g, '<code>$1</code>')}</p>
</body></html>`;
}
