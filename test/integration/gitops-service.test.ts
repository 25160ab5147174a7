// The gitops service over real git: its own remote (git push over smart HTTP), webhooks, polling, restart.
import { createHmac } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createLogger } from '../../collectors/runtime/log.ts'
import type { DeploySteps } from '../../gitops/deployer.ts'
import type { GitopsService } from '../../gitops/service.ts'
import { builtInRemote, gitAsync, gitopsWorkspace, type GitopsWorkspace } from '../support/gitops.ts'
import { requireBinary, waitFor } from '../support/servers.ts'

requireBinary('git', 'git')
const test = suite('gitops service')
let workspace: GitopsWorkspace
let deployed: string[]
const password = 'push-secret'
const webhookSecret = 'hook-secret'

let validations = 0
/** The Swarm side refuses the app stack while this is set (as it refuses a service whose image does not exist). */
let appFails: string | undefined
const steps: DeploySteps = {
  async validate(dir) {
    validations++
    const app = readFileSync(join(dir, 'stacks/app.yml'), 'utf8')
    return app.includes('BROKEN') ? ['stacks/app.yml: services.nginx: BROKEN is not a Compose key'] : []
  },
  async buildImage() {},
  async deployStack(_dir, stack) {
    if (stack === 'app' && appFails) throw new Error(appFails)
    deployed.push(stack)
  },
}

const start = (remoteUrl?: string) => workspace.start({ remoteUrl, webhookSecret, pushPassword: password, steps, log: createLogger({ write: () => {} }) })
const push = (url: string, ref = 'main') => gitAsync(['-C', workspace.repo.path, 'push', url, `HEAD:refs/heads/${ref}`])
const remote = (s: GitopsService, secret = password) => builtInRemote(s, secret)
const remoteHead = async (s: GitopsService) => (await gitAsync(['ls-remote', remote(s), 'refs/heads/main'])).output.split('\t')[0]

test.before.each(async () => {
  workspace = await gitopsWorkspace('gitops-state')
  deployed = []
  appFails = undefined
})
test.after.each(async () => {
  await workspace.remove()
})

test('git push to the built-in remote deploys, and the push answer shows it line by line', async () => {
  const s = await start()
  const first = await push(remote(s))
  assert.is(first.code, 0, first.output)
  assert.match(first.output, /remote: [0-9a-f]{7}: valid/)
  assert.match(first.output, /remote: [0-9a-f]{7}: deployed admin, metrics, logs, monitoring, app, collectors, gitops in/)
  deployed = []
  validations = 0
  await workspace.repo.commit({ 'stacks/app/nginx.conf': 'events { worker_connections 64; }\n' })
  const second = await push(remote(s))
  assert.is(validations, 1, 'the commit is validated once, in pre-receive, not again by the deployment')
  assert.is(second.code, 0, second.output)
  assert.match(second.output, /remote: [0-9a-f]{7}: stacks to deploy: app\s*\n/)
  assert.equal(deployed, ['app'])
})

test('a commit with a broken stack file is refused in the push answer, and nothing changes', async () => {
  const s = await start()
  assert.is((await push(remote(s))).code, 0)
  const good = await remoteHead(s)
  deployed = []
  await workspace.repo.commit({ 'stacks/app.yml': 'services:\n  nginx:\n    BROKEN: true\n' })
  const refused = await push(remote(s))
  assert.is.not(refused.code, 0)
  assert.match(refused.output, /remote: invalid: stacks\/app\.yml: services\.nginx: BROKEN is not a Compose key/)
  assert.match(refused.output, /pre-receive hook declined/)
  assert.equal(deployed, [])
  assert.is(await remoteHead(s), good, 'the remote still points at the last good commit')
})

test('a README-only push starts no deployment', async () => {
  const s = await start()
  await push(remote(s))
  deployed = []
  await workspace.repo.commit({ 'README.md': 'words\n' })
  const result = await push(remote(s))
  assert.is(result.code, 0)
  assert.match(result.output, /no stack changed, nothing to deploy/)
  assert.equal(deployed, [])
})

test('a wrong password cannot push', async () => {
  const s = await start()
  const result = await push(remote(s, 'guess'))
  assert.is.not(result.code, 0)
  assert.match(result.output, /Authentication failed|401/)
  assert.equal(deployed, [])
})

test('a signed webhook makes gitops fetch the remote and deploy the new commit', async () => {
  const s = await start(workspace.repo.path)
  await workspace.repo.commit({ 'stacks/metrics/prometheus.yml': 'global: {scrape_interval: 5s}\n' })
  const body = JSON.stringify({ ref: 'refs/heads/main', after: (await workspace.repo.git.revparse(['HEAD'])).trim() })
  const signature = 'sha256=' + createHmac('sha256', webhookSecret).update(body).digest('hex')
  const response = await fetch(s.url + '/webhook', { method: 'POST', body, headers: { 'x-github-event': 'push', 'x-hub-signature-256': signature, 'x-github-delivery': 'one' } })
  assert.is(response.status, 202)
  await waitFor('the webhook deployment', () => deployed.includes('metrics'), 20_000)
  const unsigned = await fetch(s.url + '/webhook', { method: 'POST', body, headers: { 'x-github-event': 'push' } })
  assert.is(unsigned.status, 401)
  const metrics = await (await fetch(s.url + '/metrics')).text()
  assert.match(metrics, /activity_gitops_webhook_requests_total\{result="accepted"\} 1/)
  assert.match(metrics, /activity_gitops_webhook_requests_total\{result="refused"\} 1/)
  assert.match(metrics, /activity_gitops_last_deploy_success\{stack="metrics"\} 1/)
  assert.match(metrics, /activity_gitops_deployed_commit_info\{stack="metrics",commit="[0-9a-f]{40}"\} 1/)
})

test('a push whose deployment fails says so in the push answer and when gitops tries again; the next good push deploys', async () => {
  const s = await start()
  assert.is((await push(remote(s))).code, 0)
  deployed = []
  appFails = 'app_nginx: rejected: No such image: activity-test/absent:1'
  const failing = await workspace.repo.commit({ 'stacks/app/nginx.conf': 'events { worker_connections 16; }\n' })
  const answer = await push(remote(s))
  assert.is(answer.code, 0, 'the branch moved: the commit is valid, the swarm refused it')
  const short = failing.slice(0, 7)
  assert.match(answer.output, /remote: failed: app: app_nginx: rejected: No such image: activity-test\/absent:1/)
  assert.match(answer.output, new RegExp(`remote: ${short}: attempt 1 failed; gitops tries again in 30 s`))
  assert.match(answer.output, new RegExp(`remote: ${short}: failed`))
  const metrics = await (await fetch(s.url + '/metrics')).text()
  assert.match(metrics, /activity_gitops_last_deploy_success\{stack="app"\} 0/)
  assert.match(metrics, /activity_gitops_deploy_attempts_total\{result="failed",attempt="first"\} 1/)
  assert.match(metrics, /activity_gitops_failed_attempts 1/)

  appFails = undefined
  await workspace.repo.commit({ 'stacks/app/nginx.conf': 'events { worker_connections 8; }\n' })
  const fixed = await push(remote(s))
  assert.match(fixed.output, /remote: [0-9a-f]{7}: deployed app in /)
  assert.equal(deployed, ['app'])
  const after = await (await fetch(s.url + '/metrics')).text()
  assert.match(after, /activity_gitops_last_deploy_success\{stack="app"\} 1/)
  assert.match(after, /activity_gitops_failed_attempts 0/)
})

test('a signed webhook with no remote to fetch from is answered 409, naming the setting to set, and deploys nothing', async () => {
  const s = await start()
  const body = JSON.stringify({ ref: 'refs/heads/main', after: (await workspace.repo.git.revparse(['HEAD'])).trim() })
  const signature = 'sha256=' + createHmac('sha256', webhookSecret).update(body).digest('hex')
  const response = await fetch(s.url + '/webhook', { method: 'POST', body, headers: { 'x-github-event': 'push', 'x-hub-signature-256': signature, 'x-github-delivery': 'no-remote' } })
  assert.is(response.status, 409)
  const text = await response.text()
  assert.match(text, /^gitops has no remote to fetch this push from, so it deploys nothing: /)
  assert.match(text, /set GITOPS_REMOTE_URL_FILE=\/run\/secrets\/gitops_remote_url/)
  const ping = await fetch(s.url + '/webhook', { method: 'POST', body, headers: { 'x-github-event': 'ping', 'x-hub-signature-256': signature } })
  assert.is(ping.status, 409, 'a ping says it at once, when the webhook is set up')
  await s.deployer.idle()
  assert.equal(deployed, [])
  assert.match(await (await fetch(s.url + '/metrics')).text(), /activity_gitops_webhook_requests_total\{result="no-remote"\} 2/)
})

test('polling picks up a new commit on the remote', async () => {
  const s = await start(workspace.repo.path)
  await s.poll()
  await s.deployer.idle()
  deployed = []
  await workspace.repo.commit({ 'stacks/app/nginx.conf': 'events { worker_connections 32; }\n' })
  const result = await s.poll()
  assert.is(result?.outcome, 'deployed')
  assert.equal(deployed, ['app'])
  assert.is(await s.poll(), undefined, 'nothing new, nothing deployed')
})

test('a restart deploys nothing that is already deployed', async () => {
  const s = await start()
  await push(remote(s))
  await workspace.stop()
  deployed = []
  const again = await start()
  await again.deployer.idle()
  assert.equal(deployed, [])
  assert.ok(existsSync(join(workspace.stateDir, 'deployed.json')))
})

test.run()
