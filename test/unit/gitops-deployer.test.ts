import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createLogger } from '../../collectors/runtime/log.ts'
import { Deployer, type DeploySteps } from '../../gitops/deployer.ts'
import type { Stack } from '../../gitops/inputs.ts'
import { StateFile } from '../../gitops/state.ts'
import { createRepo, type TestRepo } from '../support/git.ts'
import { tempDir } from '../support/servers.ts'

const test = suite('deployer')
let repo: TestRepo
let stateDir: ReturnType<typeof tempDir>
let calls: string[]
let invalid: string[]
let failOn: Stack | undefined
let gate: Promise<void> | undefined

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
    if (stack === failOn) throw new Error('docker stack deploy exited 1')
    calls.push(`deploy ${stack}`)
  },
}

const log = createLogger({ write: () => {} })
const deployer = () => new Deployer(repo.git, new StateFile(join(stateDir.path, 'state.json')), steps, log)

test.before.each(async () => {
  repo = await createRepo()
  stateDir = tempDir('state')
  calls = []
  invalid = []
  failOn = undefined
  gate = undefined
})
test.after.each(() => {
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

test('a deployment that dies midway converges on the next try: only the stacks not yet deployed go again', async () => {
  failOn = 'monitoring'
  const commit = await head()
  const failed = await deployer().request(commit)
  assert.is(failed.outcome, 'failed')
  assert.equal(failed.stacks, ['admin', 'metrics', 'logs'])
  assert.match(failed.problems[0]!, /^monitoring: docker stack deploy exited 1$/)
  failOn = undefined
  calls = []
  const retried = await deployer().request(commit)
  assert.is(retried.outcome, 'deployed')
  assert.equal(calls, ['validate checkout', 'deploy monitoring', 'deploy app', 'deploy collectors', 'deploy gitops'])
})

test('a changed collector rebuilds the collectors and gitops images, and redeploys both stacks', async () => {
  const d = deployer()
  await d.request(await head())
  calls = []
  await d.request(await repo.commit({ 'collectors/dockerhub.ts': 'export default 3\n' }))
  assert.equal(calls, ['validate checkout', 'build collectors', 'build gitops', 'deploy collectors', 'deploy gitops'])
})

test.run()
