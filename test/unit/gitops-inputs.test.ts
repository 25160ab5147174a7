import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { changedStacks, fingerprints, type Stack } from '../../gitops/inputs.ts'
import { createRepo, type TestRepo } from '../support/git.ts'

const test = suite('which stacks a commit touches')
let repo: TestRepo
test.before.each(async () => {
  repo = await createRepo()
})
test.after.each(() => repo.remove())

async function touched(changes: Record<string, string | null>): Promise<Stack[]> {
  const before = await fingerprints(repo.git, 'HEAD')
  const commit = await repo.commit(changes)
  return changedStacks((await fingerprints(repo.git, commit)).stacks, before.stacks)
}

test('a README-only commit touches no stack', async () => {
  assert.equal(await touched({ 'README.md': '# changed\n' }), [])
})

test('a stack file touches only its stack', async () => {
  assert.equal(await touched({ 'stacks/app.yml': 'services:\n  nginx:\n    image: nginx:1.27.2\n    deploy: {replicas: 2}\n' }), ['app'])
})

test("a config file beside a stack touches that stack, and a new one too", async () => {
  assert.equal(await touched({ 'stacks/metrics/prometheus.yml': 'global: {scrape_interval: 15s}\n' }), ['metrics'])
  assert.equal(await touched({ 'stacks/metrics/rules.yml': 'groups: []\n' }), ['metrics'])
})

test('a profile overlay (stacks/admin.ha.yml) touches its stack', async () => {
  assert.equal(await touched({ 'stacks/admin.ha.yml': 'services: {}\n' }), ['admin'])
})

test('a new source in activity.yml touches only the collectors stack', async () => {
  assert.equal(await touched({ 'activity.yml': 'platform:\n  domain: localhost\nsources:\n  dockerhub:\n    targets: [prom, grafana]\n' }), ['collectors'])
})

test("an alert receiver in activity.yml touches only the monitoring stack (its Alertmanager's config)", async () => {
  const receivers = 'alerts:\n  receivers:\n    - {name: team, kind: slack, secret: alerts_slack_url}\n'
  assert.equal(await touched({ 'activity.yml': `platform:\n  domain: localhost\nsources:\n  dockerhub:\n    targets: [prom]\n${receivers}` }), ['monitoring'])
})

test('comments and formatting in activity.yml touch nothing', async () => {
  assert.equal(await touched({ 'activity.yml': '# what we watch\nplatform: {domain: localhost}\nsources:\n  dockerhub: {targets: [prom]}\n' }), [])
})

test('a new domain touches every stack that serves a hostname', async () => {
  assert.equal(await touched({ 'activity.yml': 'platform:\n  domain: example.org\nsources:\n  dockerhub:\n    targets: [prom]\n' }), ['admin', 'metrics', 'logs', 'monitoring', 'app', 'collectors', 'gitops'])
})

test("collector code touches the collectors image and so its stack, and gitops which bundles the runtime", async () => {
  assert.equal(await touched({ 'collectors/dockerhub.ts': 'export default 2\n' }), ['collectors', 'gitops'])
  // The collectors stack runs the gitops image too: its scheduled backup job.
  assert.equal(await touched({ 'gitops/main.ts': 'export const x = 1\n' }), ['collectors', 'gitops'])
})

test('a dashboard touches the admin stack (Grafana provisions it)', async () => {
  assert.equal(await touched({ 'dashboards/activity/overview.json': '{"title":"x"}\n' }), ['admin'])
})

test('a deleted config file touches its stack', async () => {
  assert.equal(await touched({ 'stacks/app/nginx.conf': null }), ['app'])
})

test('a stack never deployed counts as changed, in deploy order', () => {
  const all = { admin: 'a', metrics: 'b', logs: 'c', monitoring: 'd', app: 'e', collectors: 'f', gitops: 'g' }
  assert.equal(changedStacks(all, { admin: 'a', app: 'e' }), ['metrics', 'logs', 'monitoring', 'collectors', 'gitops'])
})

test.run()
