import { createHmac } from 'node:crypto'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { DeliveryLog, maxBodyBytes, verifyWebhook } from '../../gitops/webhook.ts'

const test = suite('webhook verification')
const secret = 'correct horse battery staple'
const push = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', after: 'a'.repeat(40) }))
const sign = (body: Buffer, key = secret) => createHmac('sha256', key).update(body).digest('hex')
let deliveries: DeliveryLog
test.before.each(() => {
  deliveries = new DeliveryLog()
})

test('a GitHub push with a valid X-Hub-Signature-256 is accepted with its ref and commit', () => {
  const verdict = verifyWebhook({ headers: { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${sign(push)}`, 'x-github-delivery': 'd1' }, body: push }, secret, deliveries)
  assert.equal(verdict, { ok: true, forge: 'github', ref: 'refs/heads/main', after: 'a'.repeat(40), delivery: 'd1' })
})

test('a GitHub push signed with another secret is refused with 401', () => {
  const verdict = verifyWebhook({ headers: { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${sign(push, 'wrong')}` }, body: push }, secret, deliveries)
  assert.equal(verdict, { ok: false, status: 401, reason: 'github signature or token missing or wrong' })
})

test('a GitHub push without a signature is refused', () => {
  const verdict = verifyWebhook({ headers: { 'x-github-event': 'push' }, body: push }, secret, deliveries)
  assert.is(verdict.ok, false)
  assert.is((verdict as { status: number }).status, 401)
})

test('a body changed after signing is refused', () => {
  const tampered = Buffer.from(push.toString().replace('main', 'evil'))
  const verdict = verifyWebhook({ headers: { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${sign(push)}` }, body: tampered }, secret, deliveries)
  assert.is((verdict as { status: number }).status, 401)
})

test('a replayed delivery is refused the second time', () => {
  const request = { headers: { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${sign(push)}`, 'x-github-delivery': 'same' }, body: push }
  assert.is(verifyWebhook(request, secret, deliveries).ok, true)
  assert.equal(verifyWebhook(request, secret, deliveries), { ok: false, status: 409, reason: 'github delivery same was already received' })
})

test('an event other than push is acknowledged and ignored; a ping is answered', () => {
  const issues = verifyWebhook({ headers: { 'x-github-event': 'issues', 'x-hub-signature-256': `sha256=${sign(push)}` }, body: push }, secret, deliveries)
  assert.equal(issues, { ok: false, status: 202, reason: "github event 'issues' ignored: only pushes deploy" })
  const ping = verifyWebhook({ headers: { 'x-github-event': 'ping', 'x-hub-signature-256': `sha256=${sign(push)}` }, body: push }, secret, deliveries)
  assert.equal(ping, { ok: true, forge: 'github', ping: true })
})

test('an oversized body is refused before anything else', () => {
  const big = Buffer.alloc(maxBodyBytes + 1, 'a')
  const verdict = verifyWebhook({ headers: { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${sign(big)}` }, body: big }, secret, deliveries)
  assert.is((verdict as { status: number }).status, 413)
})

test('a GitLab push with the right token is accepted, a wrong token refused', () => {
  const ok = verifyWebhook({ headers: { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': secret }, body: push }, secret, deliveries)
  assert.is(ok.ok, true)
  const bad = verifyWebhook({ headers: { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': 'guess' }, body: push }, secret, deliveries)
  assert.is((bad as { status: number }).status, 401)
})

test('a Gitea or Forgejo push is checked with its own signature header (bare hex)', () => {
  const gitea = verifyWebhook({ headers: { 'x-gitea-event': 'push', 'x-github-event': 'push', 'x-gitea-signature': sign(push) }, body: push }, secret, deliveries)
  assert.equal(gitea.ok && 'forge' in gitea ? gitea.forge : undefined, 'gitea')
  const forgejo = verifyWebhook({ headers: { 'x-forgejo-event': 'push', 'x-forgejo-signature': sign(push, 'nope') }, body: push }, secret, deliveries)
  assert.is((forgejo as { status: number }).status, 401)
})

test('a request from no known forge is refused', () => {
  assert.equal(verifyWebhook({ headers: {}, body: push }, secret, deliveries), { ok: false, status: 400, reason: 'not a GitHub, GitLab or Gitea webhook (no event header)' })
})

test('the delivery log stays bounded', () => {
  const log = new DeliveryLog(3)
  for (const id of ['a', 'b', 'c', 'd']) assert.ok(log.accept(id))
  assert.ok(log.accept('a'), 'the oldest was forgotten')
  assert.not.ok(log.accept('d'))
})

test.run()
