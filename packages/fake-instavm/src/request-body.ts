import type { Request } from 'express';

/**
 * A request body as the fake sees it. Bodies are read as text whatever their content type, so a
 * body that is not valid JSON can be recorded as sent and answered with FastAPI's 422.
 */
export type ParsedBody =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; text: string };

export function parseBody(req: Request): ParsedBody {
  const raw: unknown = req.body;
  if (typeof raw !== 'string' || raw === '') return { kind: 'none' };
  try {
    return { kind: 'json', value: JSON.parse(raw) };
  } catch {
    return { kind: 'text', text: raw };
  }
}

/** What the request log keeps: the parsed JSON, else the raw text, else undefined. */
export function bodyForRecord(body: ParsedBody): unknown {
  if (body.kind === 'json') return body.value;
  if (body.kind === 'text') return body.text;
  return undefined;
}

/** Query parameters as sent, last value winning, read from the raw URL. */
export function queryOf(req: Request): Record<string, string> {
  const search = new URL(req.originalUrl, 'http://fake.invalid').searchParams;
  return Object.fromEntries(search.entries());
}
