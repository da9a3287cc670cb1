/** Shapes of credentials this project handles; used to refuse them and to scrub logs. */
export const SECRET_PATTERNS: readonly RegExp[] = [
  /sk-ant-[a-z]+\d{2}-[A-Za-z0-9_-]{8,}/g,
  /instavm_sk_[A-Za-z0-9_-]{8,}/g,
  /whsec_[A-Za-z0-9+/=]{8,}/g,
];

/** True when a value looks like a real Anthropic key (`sk-ant-...`), not a placeholder. */
export function looksLikeAnthropicKey(value: string): boolean {
  return /^\s*sk-ant-/i.test(value);
}

/**
 * The forms in which a secret could show up in text: the value itself and, for a Standard
 * Webhooks key, the base64 part without its `whsec_` prefix.
 */
export function secretForms(value: string | undefined): string[] {
  if (value === undefined || value.length < 8) return [];
  const forms = [value];
  if (value.startsWith('whsec_') && value.length > 14) forms.push(value.slice('whsec_'.length));
  return forms;
}
