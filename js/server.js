// twelvelabs-edge-upload/server — for the application's backend: verifies the Worker's signed
// completion webhook. Plain JS on WebCrypto, so it runs in Node ≥ 20, Deno, Bun and edge
// runtimes alike. The rule is the crate's (src/core/webhook.rs): header
// `Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256(secret, "<t>.<raw body>")>`.

/** The header the Worker signs with. */
export const WEBHOOK_SIGNATURE_HEADER = 'Webhook-Signature';

/** How far (seconds) the signed timestamp may be from this clock when no tolerance is given. */
export const DEFAULT_TOLERANCE_S = 300;

const MAX_HEADER_LENGTH = 1024;

/** Why a webhook was refused; `code` is stable. */
export class WebhookVerificationError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'WebhookVerificationError';
    this.code = code;
  }
}

const refuse = (code, message) => {
  throw new WebhookVerificationError(code, message);
};

function headerValue(headers) {
  if (headers && typeof headers.get === 'function') return headers.get(WEBHOOK_SIGNATURE_HEADER);
  if (headers && typeof headers === 'object') {
    const wanted = WEBHOOK_SIGNATURE_HEADER.toLowerCase();
    for (const [name, value] of Object.entries(headers)) {
      if (name.toLowerCase() !== wanted) continue;
      // A repeated header is ambiguous: refuse rather than pick one.
      if (Array.isArray(value)) return value.length === 1 ? value[0] : '';
      return value;
    }
  }
  return null;
}

function parseHeader(header) {
  if (typeof header !== 'string' || header.length > MAX_HEADER_LENGTH) {
    refuse('signature_malformed', 'The Webhook-Signature header is malformed.');
  }
  let timestamp = null;
  const signatures = [];
  for (const item of header.split(',')) {
    const trimmed = item.trim();
    const at = trimmed.indexOf('=');
    if (at < 0) refuse('signature_malformed', 'The Webhook-Signature header is malformed.');
    const key = trimmed.slice(0, at);
    const value = trimmed.slice(at + 1);
    if (key === 't') {
      if (timestamp !== null || !/^\d{1,12}$/.test(value)) {
        refuse('signature_malformed', 'The Webhook-Signature timestamp is malformed.');
      }
      timestamp = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-fA-F]{64}$/.test(value)) {
        refuse('signature_malformed', 'A Webhook-Signature v1 value is malformed.');
      }
      signatures.push(Uint8Array.from(value.match(/../g), (pair) => parseInt(pair, 16)));
    }
  }
  if (timestamp === null || signatures.length === 0) {
    refuse('signature_malformed', 'The Webhook-Signature header needs t= and v1=.');
  }
  return { timestamp, signatures };
}

function bodyBytes(rawBody) {
  if (typeof rawBody === 'string') return new TextEncoder().encode(rawBody);
  if (rawBody instanceof ArrayBuffer) return new Uint8Array(rawBody);
  if (ArrayBuffer.isView(rawBody)) {
    return new Uint8Array(rawBody.buffer, rawBody.byteOffset, rawBody.byteLength);
  }
  throw new TypeError('rawBody must be the request body exactly as received: a string, an ArrayBuffer or a Uint8Array (Buffer).');
}

/**
 * Verifies a webhook from the Worker and returns its event. `secret` is the WEBHOOK_SECRET, or
 * while the receiver rotates it, an array of the secrets it accepts (the new and the old).
 * Throws `WebhookVerificationError` (codes: signature_missing, signature_malformed,
 * timestamp_expired, timestamp_in_future, signature_mismatch).
 */
export async function verifyWebhook(secret, headers, rawBody, { toleranceS = DEFAULT_TOLERANCE_S, nowS } = {}) {
  const secrets = Array.isArray(secret) ? secret : [secret];
  if (secrets.length === 0 || secrets.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new TypeError('secret must be the WEBHOOK_SECRET string, or a non-empty array of them while rotating.');
  }
  if (!Number.isFinite(toleranceS) || toleranceS < 0) {
    throw new TypeError('toleranceS must be a non-negative number of seconds.');
  }
  // `undefined` means "the clock"; anything else must be a time, or no delivery would be stale.
  if (nowS !== undefined && (typeof nowS !== 'number' || !Number.isFinite(nowS) || nowS < 0)) {
    throw new TypeError('nowS must be a non-negative number of seconds since the epoch (or left out).');
  }
  const body = bodyBytes(rawBody);
  const header = headerValue(headers);
  if (header === null || header === undefined) {
    refuse('signature_missing', 'The request has no Webhook-Signature header.');
  }
  const { timestamp, signatures } = parseHeader(header);
  const now = nowS ?? Math.floor(Date.now() / 1000);
  if (now - timestamp > toleranceS) {
    refuse('timestamp_expired', 'The webhook is older than the tolerance (a replay, or held too long).');
  }
  if (timestamp - now > toleranceS) {
    refuse('timestamp_in_future', 'The webhook is dated further in the future than the tolerance.');
  }
  const encoder = new TextEncoder();
  const keys = await Promise.all(
    secrets.map((s) =>
      crypto.subtle.importKey('raw', encoder.encode(s), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']),
    ),
  );
  const prefix = encoder.encode(`${timestamp}.`);
  const message = new Uint8Array(prefix.length + body.length);
  message.set(prefix);
  message.set(body, prefix.length);
  // WebCrypto's HMAC verify compares in constant time; every key and candidate is checked.
  let matched = false;
  for (const key of keys) {
    for (const signature of signatures) {
      matched = (await crypto.subtle.verify('HMAC', key, signature, message)) || matched;
    }
  }
  if (!matched) refuse('signature_mismatch', 'The signature does not match this body and secret.');
  let event;
  try {
    event = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    refuse('signature_malformed', 'The signed body is not JSON.');
  }
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    refuse('signature_malformed', 'The signed body is not a webhook event (a JSON object).');
  }
  return event;
}
