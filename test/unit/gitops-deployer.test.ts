import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createLogger } from '../../collectors/runtime/log.ts'
import { Deployer, type DeployResult, type DeploySteps } from '../../gitops/deployer.ts'
import type { Stack } from '../../gitops/inputs.ts'
import { deployMetrics, metricsFor } from '../../gitops/metrics.ts'
import type { Clock } from '../../gitops/retry.ts'
import { StateFile, type DeployState } from '../../gitops/state.ts'
import { createRepo, type TestRepo } from '../support/git.ts'
import { tempDir } from '../support/servers.ts'

const test = suite('deployer')
let repo: TestRepo
let stateDir: ReturnType<typeof tempDir>
let calls: string[]
let invalid: string[]
let failOn: Stack | undefined
let gate: Promise<void> | undefined
let logLines: { msg: string; commit?: string; attempt?: number; retryInSeconds?: number }[]
let clock: FakeClock
let deployers: Deployer[]

const steps: DeploySteps = {
  async validate(dir) {
    calls.push(`validate ${dir.includes('activity-deploy-') ? 'checkout' : dir}`)
    return invalid
  },
  async buildImage(_dir, image) {
    calls.push(`build ${image}`)
  },
  async deployStack(_dir, stack) {
    await gate
    if (stack === failOn) {
      calls.push(`deploy ${stack}: failed`)
      throw new Error('docker stack deploy exited 1')
    }
    calls.push(`deploy ${stack}`)
  },
}

/** Time that moves only when the test moves it; timers run as it passes their time. */
interface FakeClock extends Clock {
  advance(ms: number): void
}

function fakeClock(start = Date.parse('2026-11-25T12:00:00Z')): FakeClock {
  let now = start
  const timers = new Set<{ at: number; run: () => void }>()
  return {
    now: () => now,
    setTimeout(run, ms) {
      const timer = { at: now + ms, run }
      timers.add(timer)
      return timer
    },
    clearTimeout: (timer) => void timers.delete(timer as { at: number; run: () => void }),
    advance(ms) {
      const end = now + ms
      for (;;) {
        const due = [...timers].filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0]
        if (!due) break
        timers.delete(due)
        now = due.at
        due.run()
      }
      now = end
    },
  }
}

const log = createLogger({ write: (line) => logLines.push(JSON.parse(line)) })
const stateFile = () => new StateFile(join(stateDir.path, 'state.json'))
const deployer = (events = {}, at: FakeClock = clock) => {
  const d = new Deployer(repo.git, stateFile(), steps, log, events, at)
  deployers.push(d)
  return d
}
/** The state file as written on disk. */
const savedState = () => JSON.parse(readFileSync(join(stateDir.path, 'state.json'), 'utf8')) as DeployState
/** Moves the fake time on, then waits for the deployment it started (if any) to finish. */
async function later(d: Deployer, seconds: number): Promise<void> {
  clock.advance(seconds * 1000)
  await d.idle()
}

test.before.each(async () => {
  repo = await createRepo()
  stateDir = tempDir('state')
  calls = []
  invalid = []
  failOn = undefined
  gate = undefined
  logLines = []
  clock = fakeClock()
  deployers = []
})
test.after.each(async () => {
  for (const d of deployers) d.stop()
  await Promise.all(deployers.map((d) => d.idle()))
  repo.remove()
  stateDir.remove()
})

const head = async () => (await repo.git.revparse(['HEAD'])).trim()

test('the first deployment validates, builds both images and deploys every stack in order', async () => {
  const result = await deployer().request(await head())
  assert.is(result.outcome, 'deployed')
  assert.equal(calls, ['validate checkout', 'build collectors', 'build gitops', 'deploy admin', 'deploy metrics', 'deploy logs', 'deploy monitoring', 'deploy app', 'deploy collectors', 'deploy gitops'])
})

test('a commit touching one stack deploys only it, and builds no image', async () => {
  const d = deployer()
  await d.request(await head())
  calls = []
  const lines: string[] = []
  const result = await d.request(await repo.commit({ 'stacks/app/nginx.conf': 'events { worker_connections 512; }\n' }), (line) => lines.push(line))
  assert.equal(result.stacks, ['app'])
  assert.equal(calls, ['validate checkout', 'deploy app'])
  assert.ok(lines.some((l) => /stacks to deploy: app$/.test(l)), lines.join('\n'))
})

test('a README-only commit starts no deployment', async () => {
  const d = deployer()
  await d.request(await head())
  calls = []
  const result = await d.request(await repo.commit({ 'README.md': 'more words\n' }))
  assert.is(result.outcome, 'unchanged')
  assert.equal(calls, [])
})

test('a restart (a new deployer on the same state file) redeploys nothing', async () => {
  await deployer().request(await head())
  calls = []
  const result = await deployer().request(await head())
  assert.is(result.outcome, 'unchanged')
  assert.equal(calls, [])
})

test('a commit that fails validation deploys nothing and is reported line by line', async () => {
  const d = deployer()
  await d.request(await head())
  calls = []
  invalid = ['stacks/app.yml: services.nginx.image: nginx is not pinned']
  const lines: string[] = []
  const result = await d.request(await repo.commit({ 'stacks/app.yml': 'services:\n  nginx:\n    image: nginx\n' }), (line) => lines.push(line))
  assert.is(result.outcome, 'invalid')
  assert.equal(calls, ['validate checkout'])
  assert.ok(lines.includes('invalid: stacks/app.yml: services.nginx.image: nginx is not pinned'))
  assert.ok(lines.some((l) => /refused; nothing was deployed/.test(l)))
  invalid = []
  calls = []
  const fixed = await d.request(await repo.commit({ 'stacks/app.yml': 'services:\n  nginx:\n    image: nginx:1.27.3\n' }))
  assert.equal(fixed.stacks, ['app'], 'the next good commit deploys what the bad one would have')
})

test('commits arriving during a deployment coalesce to the latest', async () => {
  const d = deployer()
  let release!: () => void
  gate = new Promise((resolve) => (release = resolve))
  const first = d.request(await head())
  const second = d.request(await repo.commit({ 'stacks/app/nginx.conf': 'events { worker_connections 256; }\n' }))
  const third = d.request(await repo.commit({ 'stacks/app/nginx.conf': 'events { worker_connections 128; }\n' }))
  const fourth = d.request(await repo.commit({ 'stacks/metrics/prometheus.yml': 'global: {scrape_interval: 30s}\n' }))
  release()
  const results = await Promise.all([first, second, third, fourth])
  assert.equal(results.map((r) => r.outcome), ['deployed', 'superseded', 'superseded', 'deployed'])
  assert.equal(results[3]!.stacks, ['metrics', 'app'], 'the latest commit carries the skipped changes too')
  assert.is(calls.filter((c) => c === 'deploy app').length, 2)
})

test('a deployment that fails on the second stack records the first as deployed and the second as failed', async () => {
  const d = deployer()
  const before = await head()
  await d.request(before)
  failOn = 'metrics'
  const commit = await repo.commit({ 'stacks/admin/grafana/datasources.yml': 'apiVersion: 1\ndatasources: []\n', 'stacks/metrics/prometheus.yml': 'global: {scrape_interval: 15s}\n' })
  const lines: string[] = []
  const result = await d.request(commit, (line) => lines.push(line))
  assert.is(result.outcome, 'failed')
  assert.equal(result.stacks, ['admin'])
  const state = savedState()
  assert.is(state.stacks.admin?.commit, commit, 'admin runs the new commit')
  assert.is(state.stacks.metrics?.commit, before, 'metrics is recorded as running what it ran before')
  assert.is(state.failed?.metrics?.commit, commit)
  assert.is(state.failed?.metrics?.reason, 'metrics: docker stack deploy exited 1')
  assert.is(state.failed?.admin, undefined)
  assert.equal(state.retry && { commit: state.retry.commit, attempts: state.retry.attempts, nextAt: state.retry.nextAt }, { commit, attempts: 1, nextAt: '2026-11-25T12:00:30.000Z' })
  assert.ok(lines.includes('failed: metrics: docker stack deploy exited 1'), lines.join('\n'))
  assert.ok(lines.includes(`${commit.slice(0, 7)}: deployed admin; metrics failed`), lines.join('\n'))
})

test('a failed deployment is retried by the deployer on its backoff schedule (30 s, then 60 s) and converges: the failed stack and those after it go again', async () => {
  const registry = new Registry()
  const results: DeployResult[] = []
  const metrics = deployMetrics(metricsFor(registry), () => stateFile().read(), (result) => results.push(result))
  const d = deployer(metrics)
  const commit = await head()
  failOn = 'monitoring'
  const lines: string[] = []
  const failed = await d.request(commit, (line) => lines.push(line))
  assert.is(failed.outcome, 'failed')
  assert.equal(failed.stacks, ['admin', 'metrics', 'logs'])
  assert.is(failed.retryInSeconds, 30)
  assert.ok(lines.includes(`${commit.slice(0, 7)}: attempt 1 failed; gitops tries again in 30 s (waits double after each failure, up to 300 s) until it deploys or a newer commit replaces it`), lines.join('\n'))

  calls = []
  await later(d, 29.999)
  assert.equal(calls, [], 'no attempt before 30 s')
  await later(d, 0.001)
  assert.equal(calls, ['deploy monitoring: failed'], 'the second attempt deploys from the failed stack on, and does not validate the commit again')
  assert.is(results.at(-1)?.retryInSeconds, 60)

  calls = []
  failOn = undefined
  await later(d, 59.999)
  assert.equal(calls, [], 'no attempt before another 60 s')
  await later(d, 0.001)
  assert.equal(calls, ['deploy monitoring', 'deploy app', 'deploy collectors', 'deploy gitops'])
  await later(d, 3600)
  assert.equal(calls, ['deploy monitoring', 'deploy app', 'deploy collectors', 'deploy gitops'], 'no attempt after it converged')

  assert.equal(results.map((r) => [r.outcome, r.attempt]), [['failed', 1], ['failed', 2], ['deployed', 3]])
  assert.equal(
    logLines.filter((l) => l.msg === 'deployment failed' || l.msg === 'deployed').map((l) => [l.msg, l.attempt, l.retryInSeconds]),
    [['deployment failed', 1, 30], ['deployment failed', 2, 60], ['deployed', 3, undefined]],
    'each attempt is one log line',
  )
  const exposition = await registry.metrics()
  assert.match(exposition, /activity_gitops_deploy_attempts_total\{result="failed",attempt="first"\} 1\n/)
  assert.match(exposition, /activity_gitops_deploy_attempts_total\{result="failed",attempt="retry"\} 1\n/)
  assert.match(exposition, /activity_gitops_deploy_attempts_total\{result="deployed",attempt="retry"\} 1\n/)
  assert.match(exposition, /activity_gitops_last_deploy_success\{stack="monitoring"\} 1\n/)
  assert.match(exposition, /activity_gitops_failed_attempts 0\n/)
  const state = savedState()
  assert.is(state.stacks.monitoring?.commit, commit)
  assert.equal(state.failed, {})
  assert.is(state.retry, undefined)
})

test('while a deployment keeps failing, the metrics say so', async () => {
  const registry = new Registry()
  const d = deployer(deployMetrics(metricsFor(registry), () => stateFile().read()))
  failOn = 'app'
  await d.request(await head())
  await later(d, 30)
  const exposition = await registry.metrics()
  assert.match(exposition, /activity_gitops_last_deploy_success\{stack="app"\} 0\n/)
  assert.match(exposition, /activity_gitops_last_deploy_success\{stack="metrics"\} 1\n/)
  assert.match(exposition, /activity_gitops_failed_attempts 2\n/)
  assert.match(exposition, /activity_gitops_deployments_total\{outcome="failed"\} 2\n/)
})

test('a newer commit replaces a pending retry, and deploys the failed stack at its own commit', async () => {
  const d = deployer()
  failOn = 'app'
  const first = await head()
  assert.is((await d.request(first)).outcome, 'failed')
  failOn = undefined
  calls = []
  await later(d, 10)
  const newer = await repo.commit({ 'stacks/metrics/prometheus.yml': 'global: {scrape_interval: 20s}\n' })
  const result = await d.request(newer)
  assert.is(result.outcome, 'deployed')
  assert.is(result.attempt, 1)
  assert.equal(result.stacks, ['metrics', 'app', 'collectors', 'gitops'], 'app, which failed, is deployed again although the newer commit does not touch it')
  calls = []
  await later(d, 3600)
  assert.equal(calls, [], `${first.slice(0, 7)} is not tried again`)
  const state = savedState()
  assert.is(state.stacks.app?.commit, newer)
  assert.is(state.retry, undefined)
})

test('a newer commit that is invalid replaces nothing: the failed one is still retried', async () => {
  const d = deployer()
  failOn = 'app'
  const first = await head()
  await d.request(first)
  invalid = ['stacks/app.yml: services.nginx.image: nginx is not pinned']
  assert.is((await d.request(await repo.commit({ 'stacks/app.yml': 'services:\n  nginx:\n    image: nginx\n' }))).outcome, 'invalid')
  failOn = undefined
  calls = []
  await later(d, 30)
  assert.equal(calls, ['deploy app', 'deploy collectors', 'deploy gitops'])
  assert.is(savedState().stacks.app?.commit, first)
})

test('after a restart, a failed deployment is retried when the state says it is due', async () => {
  failOn = 'collectors'
  const commit = await head()
  const first = deployer()
  await first.request(commit)
  first.stop()
  failOn = undefined
  calls = []
  clock.advance(10_000)
  const restarted = deployer()
  restarted.resume(commit)
  await later(restarted, 19.999)
  assert.equal(calls, [], 'not before the time the state recorded')
  await later(restarted, 0.001)
  assert.equal(calls, ['validate checkout', 'deploy collectors', 'deploy gitops'], 'a new process validates the commit once more')
  assert.is(savedState().lastResult, 'deployed')
})

test('a changed collector rebuilds the collectors and gitops images, and redeploys both stacks', async () => {
  const d = deployer()
  await d.request(await head())
  calls = []
  await d.request(await repo.commit({ 'collectors/dockerhub.ts': 'export default 3\n' }))
  assert.equal(calls, ['validate checkout', 'build collectors', 'build gitops', 'deploy collectors', 'deploy gitops'])
})

test.run()
