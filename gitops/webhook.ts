// Push webhooks from GitHub, GitLab and Gitea/Forgejo: verified in constant time, everything else refused.
import { createHmac, timingSafeEqual } from 'node:crypto'

export type Forge = 'github' | 'gitlab' | 'gitea'

export interface WebhookRequest {
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

export type WebhookVerdict =
  | { ok: true; forge: Forge; ref: string | undefined; after: string | undefined; delivery: string | undefined }
  | { ok: true; forge: Forge; ping: true }
  | { ok: false; status: number; reason: string }

/** Bodies above this are refused before any parsing (GitHub caps payloads at 25 MB; a push to this repository is tiny). */
export const maxBodyBytes = 1024 * 1024

function header(request: WebhookRequest, name: string): string | undefined {
  const value = request.headers[name]
  return Array.isArray(value) ? value[0] : value
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  // Compare equal-length buffers always, so timing says nothing about the secret's length or prefix.
  return timingSafeEqual(a.length === b.length ? a : b, b) && a.length === b.length
}

function hmacHex(secret: string, body: Buffer): string {
  return createHmac('sha256', secret).update(body).digest('hex')
}

/** Remembers recent delivery ids so a captured request cannot be replayed. Bounded. */
export class DeliveryLog {
  private readonly seen = new Set<string>()
  constructor(private readonly capacity = 1000) {}
  /** False when this delivery was seen before. */
  accept(id: string): boolean {
    if (this.seen.has(id)) return false
    this.seen.add(id)
    if (this.seen.size > this.capacity) this.seen.delete(this.seen.values().next().value as string)
    return true
  }
}

/** Checks a webhook request; only pushes (and pings) pass, with a valid signature or token. */
export function verifyWebhook(request: WebhookRequest, secret: string, deliveries: DeliveryLog): WebhookVerdict {
  if (request.body.length > maxBodyBytes) return { ok: false, status: 413, reason: `body of ${request.body.length} bytes is over ${maxBodyBytes}` }
  let forge: Forge
  let event: string | undefined
  let valid: boolean
  let delivery: string | undefined
  // Gitea and Forgejo also send X-GitHub-Event, so they are recognised first.
  if (header(request, 'x-gitea-event') !== undefined || header(request, 'x-forgejo-event') !== undefined) {
    forge = 'gitea'
    event = header(request, 'x-gitea-event') ?? header(request, 'x-forgejo-event')
    const signature = header(request, 'x-gitea-signature') ?? header(request, 'x-forgejo-signature')
    valid = signature !== undefined && sameSecret(signature, hmacHex(secret, request.body))
    delivery = header(request, 'x-gitea-delivery') ?? header(request, 'x-forgejo-delivery')
  } else if (header(request, 'x-github-event') !== undefined) {
    forge = 'github'
    event = header(request, 'x-github-event')
    const signature = header(request, 'x-hub-signature-256')
    valid = signature !== undefined && sameSecret(signature, `sha256=${hmacHex(secret, request.body)}`)
    delivery = header(request, 'x-github-delivery')
  } else if (header(request, 'x-gitlab-event') !== undefined) {
    forge = 'gitlab'
    event = header(request, 'x-gitlab-event')
    const token = header(request, 'x-gitlab-token')
    valid = token !== undefined && sameSecret(token, secret)
    delivery = header(request, 'x-gitlab-event-uuid') ?? header(request, 'idempotency-key')
  } else {
    return { ok: false, status: 400, reason: 'not a GitHub, GitLab or Gitea webhook (no event header)' }
  }
  if (!valid) return { ok: false, status: 401, reason: `${forge} signature or token missing or wrong` }
  if (delivery !== undefined && !deliveries.accept(`${forge}:${delivery}`)) return { ok: false, status: 409, reason: `${forge} delivery ${delivery} was already received` }
  if (forge === 'github' && event === 'ping') return { ok: true, forge, ping: true }
  const isPush = forge === 'gitlab' ? event === 'Push Hook' : event === 'push'
  if (!isPush) return { ok: false, status: 202, reason: `${forge} event '${event}' ignored: only pushes deploy` }
  let payload: { ref?: unknown; after?: unknown }
  try {
    payload = JSON.parse(request.body.toString('utf8')) as { ref?: unknown; after?: unknown }
  } catch {
    return { ok: false, status: 400, reason: `${forge} push body is not JSON` }
  }
  return {
    ok: true,
    forge,
    ref: typeof payload.ref === 'string' ? payload.ref : undefined,
    after: typeof payload.after === 'string' ? payload.after : undefined,
    delivery,
  }
}
