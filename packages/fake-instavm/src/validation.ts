/**
 * Request validation shaped like FastAPI's (pydantic v2) 422 answers, so the client's error
 * handling meets the same `{"detail":[{loc,msg,type}]}` it would meet at InstaVM. Stricter than
 * pydantic's lax mode on one point: numbers sent as strings are refused, to catch a client that
 * sends "512".
 */

export interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; issues: ValidationIssue[] };

export interface CreateVmInput {
  vm_lifetime_seconds: number;
  memory_mb: number;
  vcpu_count: number;
  metadata: Record<string, string>;
  env: Record<string, string>;
  egress_policy: unknown;
  snapshot_id: string | undefined;
  vault_ids: string[] | undefined;
}

export interface ExecuteInput {
  command: string;
  session_id: string;
  language: string | undefined;
  timeout: number | undefined;
  vault_ids: string[] | undefined;
}

/** Published defaults: 300 s lifetime, 512 MB, 2 vCPU. */
const CREATE_DEFAULTS = { vm_lifetime_seconds: 300, memory_mb: 512, vcpu_count: 2 };
const VCPU_CHOICES = [1, 2, 4, 6, 8];

type Body = Record<string, unknown>;

export function isPlainObject(value: unknown): value is Body {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** FastAPI's answer when the body is not an object at all. */
function notAnObject(loc: (string | number)[]): ValidationIssue {
  return {
    loc,
    msg: 'Input should be a valid dictionary or object to extract fields from',
    type: 'model_attributes_type',
  };
}

/** Optional fields treat null like absence, as pydantic's `Optional[...] = None` does. */
function present(body: Body, field: string): boolean {
  return body[field] !== undefined && body[field] !== null;
}

interface IntRule {
  min?: number;
  max?: number;
  choices?: number[];
}

function checkInteger(
  value: unknown,
  loc: (string | number)[],
  rule: IntRule,
  issues: ValidationIssue[],
): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    issues.push({ loc, msg: 'Input should be a valid integer', type: 'int_type' });
    return undefined;
  }
  if (!Number.isInteger(value)) {
    issues.push({
      loc,
      msg: 'Input should be a valid integer, got a number with a fractional part',
      type: 'int_from_float',
    });
    return undefined;
  }
  if (rule.choices && !rule.choices.includes(value)) {
    const last = rule.choices[rule.choices.length - 1];
    const listed = `${rule.choices.slice(0, -1).join(', ')} or ${last}`;
    issues.push({ loc, msg: `Input should be ${listed}`, type: 'literal_error' });
    return undefined;
  }
  if (rule.min !== undefined && value < rule.min) {
    const msg = `Input should be greater than or equal to ${rule.min}`;
    issues.push({ loc, msg, type: 'greater_than_equal' });
    return undefined;
  }
  if (rule.max !== undefined && value > rule.max) {
    issues.push({
      loc,
      msg: `Input should be less than or equal to ${rule.max}`,
      type: 'less_than_equal',
    });
    return undefined;
  }
  return value;
}

function checkOptionalInteger(
  body: Body,
  field: string,
  loc: (string | number)[],
  rule: IntRule,
  issues: ValidationIssue[],
): number | undefined {
  return present(body, field)
    ? checkInteger(body[field], [...loc, field], rule, issues)
    : undefined;
}

function checkString(
  value: unknown,
  loc: (string | number)[],
  issues: ValidationIssue[],
): string | undefined {
  if (typeof value === 'string') return value;
  issues.push({ loc, msg: 'Input should be a valid string', type: 'string_type' });
  return undefined;
}

function checkRequiredString(
  body: Body,
  field: string,
  issues: ValidationIssue[],
): string | undefined {
  if (!present(body, field)) {
    issues.push({ loc: ['body', field], msg: 'Field required', type: 'missing' });
    return undefined;
  }
  return checkString(body[field], ['body', field], issues);
}

/** `dict[str, str]`: each bad value is reported at its own key, as pydantic does. */
function checkStringMap(
  value: unknown,
  loc: (string | number)[],
  issues: ValidationIssue[],
): Record<string, string> | undefined {
  if (!isPlainObject(value)) {
    issues.push({ loc, msg: 'Input should be a valid dictionary', type: 'dict_type' });
    return undefined;
  }
  const before = issues.length;
  for (const [key, item] of Object.entries(value)) checkString(item, [...loc, key], issues);
  return issues.length === before ? (value as Record<string, string>) : undefined;
}

function checkStringList(
  value: unknown,
  loc: (string | number)[],
  issues: ValidationIssue[],
): string[] | undefined {
  if (!Array.isArray(value)) {
    issues.push({ loc, msg: 'Input should be a valid list', type: 'list_type' });
    return undefined;
  }
  const before = issues.length;
  value.forEach((item, index) => {
    checkString(item, [...loc, index], issues);
  });
  return issues.length === before ? (value as string[]) : undefined;
}

/** Metadata is a free-form object at InstaVM; only its being an object is checked. */
function checkMetadata(
  value: unknown,
  loc: (string | number)[],
  issues: ValidationIssue[],
): Record<string, string> | undefined {
  if (isPlainObject(value)) return value as Record<string, string>;
  issues.push({ loc, msg: 'Input should be a valid dictionary', type: 'dict_type' });
  return undefined;
}

const EGRESS_FLAGS = ['allow_package_managers', 'allow_http', 'allow_https'];
const EGRESS_LISTS = ['allowed_domains', 'allowed_cidrs'];

/** Pushes the issues of an egress policy found at `loc`; the policy itself is kept as sent. */
function collectEgressIssues(
  value: unknown,
  loc: (string | number)[],
  issues: ValidationIssue[],
): void {
  if (!isPlainObject(value)) {
    issues.push(notAnObject(loc));
    return;
  }
  for (const flag of EGRESS_FLAGS) {
    if (present(value, flag) && typeof value[flag] !== 'boolean') {
      issues.push({
        loc: [...loc, flag],
        msg: 'Input should be a valid boolean',
        type: 'bool_type',
      });
    }
  }
  for (const list of EGRESS_LISTS) {
    if (present(value, list)) checkStringList(value[list], [...loc, list], issues);
  }
}

function answer<T>(issues: ValidationIssue[], value: () => T): Checked<T> {
  return issues.length > 0 ? { ok: false, issues } : { ok: true, value: value() };
}

/** Body of `POST /v1/vms`. A missing egress_policy is allowed, as at InstaVM. */
export function validateCreateVm(body: unknown): Checked<CreateVmInput> {
  if (!isPlainObject(body)) return { ok: false, issues: [notAnObject(['body'])] };
  const issues: ValidationIssue[] = [];
  const loc = ['body'];
  const lifetime = checkOptionalInteger(
    body,
    'vm_lifetime_seconds',
    loc,
    { min: 20, max: 86_400 },
    issues,
  );
  const memory = checkOptionalInteger(body, 'memory_mb', loc, { min: 128, max: 8192 }, issues);
  const vcpus = checkOptionalInteger(body, 'vcpu_count', loc, { choices: VCPU_CHOICES }, issues);
  const metadata = present(body, 'metadata')
    ? checkMetadata(body.metadata, ['body', 'metadata'], issues)
    : {};
  const env = present(body, 'env') ? checkStringMap(body.env, ['body', 'env'], issues) : {};
  if (present(body, 'egress_policy')) {
    collectEgressIssues(body.egress_policy, ['body', 'egress_policy'], issues);
  }
  const snapshotId = present(body, 'snapshot_id')
    ? checkString(body.snapshot_id, ['body', 'snapshot_id'], issues)
    : undefined;
  const vaultIds = present(body, 'vault_ids')
    ? checkStringList(body.vault_ids, ['body', 'vault_ids'], issues)
    : undefined;
  return answer(issues, () => ({
    vm_lifetime_seconds: lifetime ?? CREATE_DEFAULTS.vm_lifetime_seconds,
    memory_mb: memory ?? CREATE_DEFAULTS.memory_mb,
    vcpu_count: vcpus ?? CREATE_DEFAULTS.vcpu_count,
    metadata: metadata ?? {},
    env: env ?? {},
    egress_policy: present(body, 'egress_policy') ? body.egress_policy : undefined,
    snapshot_id: snapshotId,
    vault_ids: vaultIds,
  }));
}

/** Body of `POST /v1/egress/vm/{id}`: a whole policy. */
export function validateEgressPolicy(body: unknown): Checked<Record<string, unknown>> {
  const issues: ValidationIssue[] = [];
  collectEgressIssues(body, ['body'], issues);
  return answer(issues, () => body as Record<string, unknown>);
}

/** Body of `/execute` and `/execute_async`; `language` stays undefined when not sent. */
export function validateExecute(body: unknown): Checked<ExecuteInput> {
  if (!isPlainObject(body)) return { ok: false, issues: [notAnObject(['body'])] };
  const issues: ValidationIssue[] = [];
  const command = checkRequiredString(body, 'command', issues);
  const sessionId = checkRequiredString(body, 'session_id', issues);
  const language = present(body, 'language')
    ? checkString(body.language, ['body', 'language'], issues)
    : undefined;
  const timeout = checkOptionalInteger(body, 'timeout', ['body'], { min: 1, max: 600 }, issues);
  const vaultIds = present(body, 'vault_ids')
    ? checkStringList(body.vault_ids, ['body', 'vault_ids'], issues)
    : undefined;
  return answer(issues, () => ({
    command: command ?? '',
    session_id: sessionId ?? '',
    language,
    timeout,
    vault_ids: vaultIds,
  }));
}

/** Body of `POST /kill`. */
export function validateKill(body: unknown): Checked<{ session_id: string }> {
  if (!isPlainObject(body)) return { ok: false, issues: [notAnObject(['body'])] };
  const issues: ValidationIssue[] = [];
  const sessionId = checkRequiredString(body, 'session_id', issues);
  return answer(issues, () => ({ session_id: sessionId ?? '' }));
}
