// Deployments you can read and undo, on a real single-node Swarm: a good commit A; a commit B whose nginx fails its
// healthcheck, which Swarm rolls back and gitops reports as such (push answer, ledger, metrics); `activity rollback --to A`
// (the bundled CLI, as a person runs it) leaves every service as A deployed it and pins the platform; the next good
// commit C deploys and unpins; and gitops restarted while it follows an update finishes that update's one entry.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { LedgerEntry } from '../../gitops/ledger.ts'
import { docker } from '../../stacks/deploy/docker.ts'
import { parseExposition, valueOf } from '../support/collect.ts'
import { runActivity } from '../support/cli.ts'
import { requireBinary, type ApiServer } from '../support/servers.ts'
import { cleanUp, freshPlatform, gitopsAnswering, gitopsRemote, hostReceiver, platformRepo, poll, root, serviceSpecs, type PlatformRepo, type Prepared } from './platform.ts'

const test = suite('deploy ledger, Swarm rollbacks and activity rollback on a single-node swarm')
const log = (line: string) => process.stdout.write(`  ${line}\n`)
const echo = (line: string) => process.stdout.write(`    | ${line}\n`)
const gitopsPort = 8088

let prepared: Prepared | undefined
let repo: PlatformRepo | undefined
let remote = ''
let commitA = ''
/** Every service's spec (hashed) once A was deployed; collector jobs, which the scheduler re-runs, and gitops left out. */
let specsOfA = new Map<string, string>()
/** The webhook receiver of critical alerts this test runs, and its address as the swarm's containers see it. */
let receiver: ApiServer | undefined
let oncall = ''

const nginxConf = () => readFileSync(join(repo!.path, 'stacks/app/nginx.conf'), 'utf8')

async function push(message: string, files: Record<string, string | null>) {
  const pushed = await repo!.commitAndPush(remote, message, files)
  pushed.output.split('\n').filter(Boolean).forEach(echo)
  log(`${message}: ${pushed.seconds.toFixed(1)} s`)
  return { ...pushed, commit: await repo!.git('rev-parse', 'HEAD') }
}

async function specs(): Promise<Map<string, string>> {
  const all = await serviceSpecs()
  return new Map([...all].filter(([name]) => !name.startsWith('collectors_') && name !== 'gitops_gitops').map(([name, spec]) => [name, createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 16)]))
}

async function activity(...args: string[]) {
  const ran = await runActivity([...args, '--remote', remote], { env: { PATH: process.env.PATH } })
  ;(ran.stdout + ran.stderr).split('\n').filter(Boolean).forEach(echo)
  return ran
}

async function ledger(): Promise<LedgerEntry[]> {
  const listed = await runActivity(['deploys', '--json', '--remote', remote], { env: { PATH: process.env.PATH } })
  assert.is(listed.code, 0, listed.stderr)
  return JSON.parse(listed.stdout) as LedgerEntry[]
}

async function metric(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${gitopsPort}/metrics`)).text()
  return valueOf(parseExposition(text), name, labels)
}

test.before(async () => {
  requireBinary('git', 'git')
  try {
    const built = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, encoding: 'utf8' })
    if (built.status !== 0) throw new Error(`npm run build failed: ${built.stderr}`)
    prepared = await freshPlatform(log, echo)
    repo = await platformRepo()
    remote = gitopsRemote(prepared, gitopsPort)
    await gitopsAnswering(gitopsPort)
    // The tree up deployed, pushed as it is: gitops finds nothing to change.
    await repo.git('push', remote, 'HEAD:main')
    // Critical alerts go to a webhook this test runs, where the containers reach the host (the gateway of docker_gwbridge).
    const host = await hostReceiver()
    receiver = host.server
    oncall = `${host.base}/oncall`
    const receivers = `\nalerts:\n  receivers:\n    - {name: oncall, kind: webhook, url: "${oncall}", severities: [critical]}\n`
    const alerting = await push('alerts: critical ones to the on-call webhook', { 'activity.yml': readFileSync(join(repo.path, 'activity.yml'), 'utf8') + receivers })
    if (alerting.code !== 0 || !/: deployed monitoring in /.test(alerting.output)) throw new Error('the commit adding the alert receiver did not deploy monitoring')
  } catch (error) {
    log(`SETUP FAILED: ${(error as Error).stack ?? error}`)
    throw error
  }
})

test.after(async () => {
  await receiver?.close()
  await cleanUp(prepared, log)
  repo?.remove()
})

test('up recorded its deployment in the ledger, and a good commit A is one more entry, succeeded', async () => {
  const before = await ledger()
  assert.ok(before.some((e) => e.trigger === 'up' && e.result === 'succeeded'), `up's entry: ${JSON.stringify(before.map((e) => [e.id, e.trigger, e.result]))}`)
  const a = await push('A: nginx, a comment', { 'stacks/app/nginx.conf': `# A\n${nginxConf()}` })
  assert.is(a.code, 0)
  assert.match(a.output, /: deployed app in /)
  const entry = /remote: [0-9a-f]{7}: succeeded \(ledger entry (\d+)\)/.exec(a.output)
  assert.ok(entry, 'the push answer names the ledger entry')
  const recorded = (await ledger()).find((e) => e.id === Number(entry![1]))!
  assert.equal([recorded.commit, recorded.trigger, recorded.result, recorded.stacks], [a.commit, 'push', 'succeeded', ['app']])
  assert.ok(recorded.services.some((s) => s.name === 'app_nginx' && /nginx/.test(s.image) && /^[0-9a-f]{16}$/.test(s.fingerprint)), JSON.stringify(recorded.services))
  commitA = a.commit
  specsOfA = await specs()
})

test('a commit B whose nginx fails its healthcheck is rolled back by Swarm: the push answer, the ledger and the metrics say so', async () => {
  const broken = nginxConf().replace('return 200 "ok\\n";', 'return 503 "broken\\n";')
  assert.is.not(broken, nginxConf(), 'the test edits /healthz of nginx.conf')
  const b = await push('B: /healthz answers 503', { 'stacks/app/nginx.conf': broken })
  assert.is(b.code, 0, 'the commit is valid: the branch moves')
  assert.match(b.output, /remote: failed: app: app_nginx rolled back by Swarm/)
  // Swarm's reason is always there; the failed task's last health check only while Docker still keeps that container
  // (a removed task's container takes its health log with it), so it is not asserted here.
  assert.match(b.output, /app_nginx: rolled back by Swarm/, 'the reason is Swarm\'s')
  const named = new RegExp(`remote: ${b.commit.slice(0, 7)}: rolled back by Swarm \\(ledger entry (\\d+)\\)`).exec(b.output)
  assert.ok(named, 'the push answer says rolled back by Swarm and names the entry')
  const entry = (await ledger()).find((e) => e.id === Number(named![1]))!
  assert.equal([entry.commit, entry.result, entry.stacks], [b.commit, 'rolled back by Swarm', ['app']])
  assert.match(entry.reason ?? '', /app_nginx rolled back by Swarm/)
  assert.is(await metric('activity_gitops_last_deploy_success', { stack: 'app' }), 0)
  assert.is(await metric('activity_gitops_last_deploy_result', { result: 'rolled_back' }), 1)
  const served = await poll('nginx (A, again) to answer', async () => (await fetch('http://127.0.0.1:8080/healthz').catch(() => undefined))?.status, 60_000)
  assert.is(served, 200, 'Swarm runs what it ran before: the site answers')
  // The rule DeploymentFailed in the monitoring Prometheus fires, and Alertmanager sends it to the critical receiver.
  const started = Date.now()
  const alert = await poll('DeploymentFailed for app at the on-call webhook', async () => {
    const bodies = receiver!.requests.filter((r) => r.method === 'POST' && r.url === '/oncall').map((r) => JSON.parse(r.body) as { status: string; alerts: { labels: Record<string, string> }[] })
    return bodies.flatMap((b) => b.alerts).find((a) => a.labels.alertname === 'DeploymentFailed' && a.labels.stack === 'app')
  }, 240_000, 2000)
  assert.is(alert.labels.severity, 'critical')
  log(`DeploymentFailed reached the webhook receiver ${((Date.now() - started) / 1000).toFixed(0)} s after the push answer`)
})

test('activity rollback --to A leaves every service as A deployed it and pins the platform; the next good commit C deploys and unpins', async () => {
  const rolled = await activity('rollback', '--to', commitA.slice(0, 10))
  assert.is(rolled.code, 0)
  assert.match(rolled.stdout, /pinned to [0-9a-f]{7} \(ledger entry \d+\)/)
  const now = await specs()
  for (const [service, spec] of specsOfA) assert.is(now.get(service), spec, `${service} runs the spec A deployed`)
  assert.is(await metric('activity_gitops_pinned'), 1)
  assert.ok((await metric('activity_gitops_pinned_timestamp_seconds'))! > Date.now() / 1000 - 600)
  const status = spawnSync('npm', ['run', '--silent', 'status'], { cwd: root, encoding: 'utf8', env: { ...process.env, ...prepared!.env } })
  assert.match(status.stdout, /pinned by activity rollback to [0-9a-f]{7}/)
  const last = (await ledger()).at(-1)!
  assert.equal([last.commit, last.trigger, last.result], [commitA, 'rollback', 'succeeded'])

  const c = await push('C: nginx, another comment', { 'stacks/app/nginx.conf': `# C\n${readFileSync(join(repo!.path, 'stacks/app/nginx.conf'), 'utf8').replace('return 503 "broken\\n";', 'return 200 "ok\\n";')}` })
  assert.is(c.code, 0)
  assert.match(c.output, /the pin to [0-9a-f]{7} \(ledger entry \d+\) ends/)
  assert.match(c.output, new RegExp(`${c.commit.slice(0, 7)}: succeeded`))
  assert.is(await metric('activity_gitops_pinned'), 0)
})

test('gitops restarted while it follows an update resumes following it, and the ledger has one entry for it', async () => {
  // A slower update: the new nginx is healthy only after its first check, 20 s in.
  const app = readFileSync(join(repo!.path, 'stacks/app.yml'), 'utf8')
  const slower = app.replace(/(healthcheck:\n(?:.*\n)*?\s+interval:) 5s/, '$1 20s')
  assert.is.not(slower, app, 'the test slows the healthcheck of stacks/app.yml')
  const since = Date.now()
  const pushing = push('D: a slower healthcheck', { 'stacks/app.yml': slower })
  const following = await poll('gitops to start the app update', async () => {
    const last = ((await ledger().catch(() => [])) as LedgerEntry[]).at(-1)
    return last && Date.parse(last.startedAt) >= since - 2000 && last.result === 'running' && last.stacks.includes('app') ? last : undefined
  }, 120_000, 500)
  // Swarm updates nginx (its new task waits 20 s for its first health check) while gitops follows it.
  await poll('Swarm to update app_nginx', async () => {
    const status = JSON.parse(await docker(['service', 'inspect', '--format', '{{json .UpdateStatus}}', 'app_nginx'])) as { State?: string; StartedAt?: string } | null
    return status?.State === 'updating' && Date.parse(status.StartedAt ?? '') >= since - 2000
  }, 60_000, 500)
  await new Promise((resolve) => setTimeout(resolve, 2000))
  const task = (await docker(['service', 'ps', '-q', '--filter', 'desired-state=running', 'gitops_gitops'])).trim()
  await docker(['service', 'update', '--detach', '--force', 'gitops_gitops'])
  log(`restarted gitops while it followed ledger entry ${following.id}`)
  await pushing
  await poll('the restarted gitops to answer', async () => {
    const now = (await docker(['service', 'ps', '-q', '--filter', 'desired-state=running', 'gitops_gitops'])).trim()
    return now && now !== task && (await fetch(`http://127.0.0.1:${gitopsPort}/healthz`).catch(() => undefined))?.ok
  }, 120_000, 2000)
  const finished = await poll('the resumed attempt to end', async () => {
    const entry = ((await ledger().catch(() => [])) as LedgerEntry[]).find((e) => e.id === following.id)
    return entry && entry.result !== 'running' ? entry : undefined
  }, 180_000, 2000)
  assert.is(finished.result, 'succeeded', finished.reason)
  const ofD = (await ledger()).filter((e) => e.commit === following.commit)
  assert.equal(ofD.map((e) => e.id), [following.id], 'one entry, not two')
})

test.run()
