/** The header the Worker signs with. */
export declare const WEBHOOK_SIGNATURE_HEADER: 'Webhook-Signature';

/** How far (seconds) the signed timestamp may be from this clock when no tolerance is given. */
export declare const DEFAULT_TOLERANCE_S: 300;

/** A scalar metadata value, as TwelveLabs stores `user_metadata`. */
export type WebhookMetadataValue = string | number | boolean;

/** The event the Worker sends when an upload has produced its asset. */
export interface WebhookEvent {
  /** `upload.completed` (a multipart session completed) or `asset.created` (direct or URL upload). */
  event: 'upload.completed' | 'asset.created';
  /** The TwelveLabs asset: the idempotency key (a delivery may arrive more than once). */
  asset_id: string;
  /** The multipart session (only for `upload.completed`). */
  upload_id?: string;
  /** The grant's `sub`: the user who uploaded. */
  sub: string;
  /** The asset's file name, when TwelveLabs reported one. */
  filename: string | null;
  /** The size in bytes, when known. */
  size: number | null;
  /** The media type, when known. */
  type: 'video' | 'audio' | 'image' | null;
  /** The asset's `user_metadata` as stored (the Worker's `edge_upload_owner` tag included). */
  user_metadata: Record<string, WebhookMetadataValue>;
  /** When the Worker observed the event (RFC 3339, UTC). */
  occurred_at: string;
}

/** Stable refusal codes. */
export type WebhookVerificationErrorCode =
  | 'signature_missing'
  | 'signature_malformed'
  | 'timestamp_expired'
  | 'timestamp_in_future'
  | 'signature_mismatch';

/** Why a webhook was refused. */
export declare class WebhookVerificationError extends Error {
  readonly name: 'WebhookVerificationError';
  readonly code: WebhookVerificationErrorCode;
  constructor(code: WebhookVerificationErrorCode, message: string);
}

/** Request headers as the Fetch API (`Headers`) or Node's `IncomingMessage.headers` hold them. */
export type WebhookHeaders =
  | { get(name: string): string | null }
  | Record<string, string | string[] | undefined>;

/** Options of {@link verifyWebhook}. */
export interface VerifyWebhookOptions {
  /** How far (seconds) the signed timestamp may be from now, either way. Default 300. */
  toleranceS?: number | undefined;
  /** The current time in Unix seconds (default: the system clock). */
  nowS?: number | undefined;
}

/**
 * Verifies a webhook from the Worker (constant-time HMAC-SHA-256 check, timestamp within the
 * tolerance) and returns its event. `secret` is the `WEBHOOK_SECRET`, or while you rotate it, the
 * secrets you accept (a delivery verifies if one of them signed it). `rawBody` must be the body
 * exactly as received. Rejects with a {@link WebhookVerificationError}.
 */
export declare function verifyWebhook(
  secret: string | readonly [string, ...string[]],
  headers: WebhookHeaders,
  rawBody: string | ArrayBuffer | ArrayBufferView,
  options?: VerifyWebhookOptions,
): Promise<WebhookEvent>;
