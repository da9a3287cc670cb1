import type { Request, Response } from 'express';
import type { FaultRule } from './types.js';

interface ActiveFault {
  rule: FaultRule;
  remaining: number;
}

/**
 * Scripted misbehaviours, consulted once per API request in the order they were added. A rule
 * with its `times` used up stays in the list but no longer matches, so order stays predictable.
 */
export class FaultBook {
  private active: ActiveFault[] = [];

  add(rule: FaultRule): void {
    const problem = describeBadFaultRule(rule);
    if (problem) throw new TypeError(`Invalid fault rule: ${problem}`);
    this.active.push({ rule: { ...rule }, remaining: rule.times ?? Number.POSITIVE_INFINITY });
  }

  clear(): void {
    this.active = [];
  }

  /** The first matching rule with uses left, using one of them; undefined when none. */
  take(method: string, path: string): FaultRule | undefined {
    const match = this.active.find(
      ({ rule, remaining }) =>
        remaining > 0 &&
        (rule.method === undefined || rule.method.toUpperCase() === method.toUpperCase()) &&
        (rule.path === undefined || path.startsWith(rule.path)),
    );
    if (!match) return undefined;
    match.remaining -= 1;
    return match.rule;
  }
}

/** Whether the rule replaces the answer; a rule with only `delayMs` just slows the real one. */
export function replacesAnswer(rule: FaultRule): boolean {
  return (
    rule.status !== undefined ||
    rule.body !== undefined ||
    rule.hang === true ||
    rule.resetConnection === true
  );
}

/**
 * Misbehaves on `res` as the rule says. A hang answers nothing: the socket stays open until the
 * fake closes. A string body is sent as plain text, to imitate a proxy's error page.
 */
export function answerWithFault(rule: FaultRule, req: Request, res: Response): void {
  if (rule.resetConnection) {
    // An RST rather than a FIN, so the client sees ECONNRESET as on a dropped connection.
    req.socket.resetAndDestroy();
    return;
  }
  if (rule.hang) return;
  if (rule.retryAfter !== undefined) res.setHeader('retry-after', rule.retryAfter);
  res.status(rule.status ?? 500);
  const body = rule.body ?? { detail: 'Injected fault' };
  if (typeof body === 'string') res.type('text/plain').send(body);
  else res.json(body);
}

const OPTIONAL_TYPES: Record<keyof FaultRule, string> = {
  method: 'string',
  path: 'string',
  status: 'number',
  body: 'any',
  retryAfter: 'string',
  delayMs: 'number',
  hang: 'boolean',
  resetConnection: 'boolean',
  afterEffect: 'boolean',
  times: 'number',
};

/** Why a rule (possibly from an HTTP body) is unusable, or undefined when it is fine. */
export function describeBadFaultRule(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'a fault rule must be an object';
  }
  const rule = value as Record<string, unknown>;
  for (const [key, item] of Object.entries(rule)) {
    const expected = OPTIONAL_TYPES[key as keyof FaultRule];
    if (expected === undefined) return `unknown field ${key}`;
    if (expected !== 'any' && item !== undefined && typeof item !== expected) {
      return `${key} must be a ${expected}`;
    }
  }
  const { status, delayMs, times } = rule as FaultRule;
  if (status !== undefined && (!Number.isInteger(status) || status < 100 || status > 599)) {
    return 'status must be an HTTP status code';
  }
  if (delayMs !== undefined && !(delayMs >= 0)) return 'delayMs must be >= 0';
  if (times !== undefined && !(Number.isInteger(times) && times >= 1)) {
    return 'times must be a positive integer';
  }
  return undefined;
}
