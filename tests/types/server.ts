// Type-checks the backend entry `twelvelabs-edge-upload/server` as an application would use it.
import {
  verifyWebhook,
  WebhookVerificationError,
  WEBHOOK_SIGNATURE_HEADER,
  type WebhookEvent,
  type WebhookVerificationErrorCode,
} from 'twelvelabs-edge-upload/server';

export async function receive(request: Request, secret: string): Promise<Response> {
  const raw = await request.text();
  try {
    const event: WebhookEvent = await verifyWebhook(secret, request.headers, raw, { toleranceS: 300 });
    const id: string = event.asset_id;
    const upload: string | undefined = event.upload_id;
    const kind: 'upload.completed' | 'asset.created' = event.event;
    const size: number | null = event.size;
    const media: 'video' | 'audio' | 'image' | null = event.type;
    const meta: string | number | boolean | undefined = event.user_metadata['project'];
    return new Response(JSON.stringify({ id, upload, kind, size, media, meta }));
  } catch (error) {
    if (error instanceof WebhookVerificationError) {
      const code: WebhookVerificationErrorCode = error.code;
      return new Response(code, { status: 400 });
    }
    throw error;
  }
}

// Node's IncomingMessage.headers shape and a Uint8Array body are accepted.
void verifyWebhook('s', { 'webhook-signature': 't=1,v1=00' }, new Uint8Array(0));
// While a receiver rotates its secret, it passes the secrets it accepts.
void verifyWebhook(['new-secret', 'old-secret'], new Headers(), '');
const rotating: readonly [string, ...string[]] = ['new-secret', 'old-secret'];
void verifyWebhook(rotating, new Headers(), '');
// @ts-expect-error an empty list of secrets accepts nothing
void verifyWebhook([], new Headers(), '');
const header: 'Webhook-Signature' = WEBHOOK_SIGNATURE_HEADER;
void header;

// @ts-expect-error the body must be the raw bytes or text, not a parsed object
void verifyWebhook('s', new Headers(), { event: 'asset.created' });
// @ts-expect-error tolerance is a number of seconds
void verifyWebhook('s', new Headers(), '', { toleranceS: '300' });
// @ts-expect-error codes are a closed set
const wrong: WebhookVerificationErrorCode = 'bad_signature';
void wrong;
