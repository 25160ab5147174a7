// The `activity` command as a user runs it: the bundled CLI in a child process.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseExposition, valueOf } from '../support/collect.ts'
import { hubNamespace, startDockerHubApi, type DockerHubApi } from '../support/dockerhub-api.ts'
import { tempDir } from '../support/servers.ts'
import { runActivity } from '../support/cli.ts'

const test = suite('activity CLI')
let api: DockerHubApi
const dir = tempDir('cli')

const activity = (args: string[], env: Record<string, string> = {}) => runActivity(args, { env: { PATH: process.env.PATH, HTTP_RETRIES: '0', ...env }, cwd: dir.path })

test.before(async () => {
  api = await startDockerHubApi({ namespaces: { prom: hubNamespace('prom', 3) } })
})
test.after(async () => {
  await api.close()
  dir.remove()
})

test('collect --target --stdout prints the metrics without any config or Pushgateway', async () => {
  const run = await activity(['collect', 'dockerhub', '--target', 'prom', '--stdout'], { DOCKERHUB_API_URL: api.url })
  assert.is(run.code, 0, run.stderr)
  const samples = parseExposition(run.stdout)
  assert.is(valueOf(samples, 'dockerhub_repository_pulls', { repository: 'image-002' }), 3000)
  assert.is(valueOf(samples, 'activity_collector_last_run_success'), 1)
  assert.match(run.stdout, /# HELP dockerhub_repository_pulls \S/)
  for (const line of run.stderr.trim().split('\n')) JSON.parse(line) // logs are JSON lines on stderr
})

test('collect reads its targets from activity.yml', async () => {
  writeFileSync(join(dir.path, 'activity.yml'), 'sources:\n  dockerhub:\n    targets: [prom]\n')
  const run = await activity(['collect', 'dockerhub', '--stdout'], { DOCKERHUB_API_URL: api.url })
  assert.is(run.code, 0, run.stderr)
  assert.is(valueOf(parseExposition(run.stdout), 'dockerhub_namespace_repositories'), 3)
})

test('a failed run exits non-zero with one line saying why', async () => {
  const run = await activity(['collect', 'dockerhub', '--target', 'nobody', '--stdout'], { DOCKERHUB_API_URL: api.url })
  assert.is(run.code, 1)
  const lines = run.stderr.split('\n').filter((l) => l.startsWith('activity:'))
  assert.equal(lines, [`activity: dockerhub nobody: ${api.url}/v2/namespaces/nobody/repositories?page_size=100&page=1 answered 404: httperror 404: object not found`])
})

test('a bad config is one line naming file, line and field, exit 2', async () => {
  writeFileSync(join(dir.path, 'bad.yml'), 'sources:\n  dockerhub:\n    targets: [prom, prom]\n')
  const run = await activity(['collect', 'dockerhub', '--config', 'bad.yml', '--stdout'])
  assert.is(run.code, 2)
  assert.is(run.stderr, "activity: bad.yml:3: sources.dockerhub.targets[1]: duplicate target 'prom' (also at targets[0]); remove one of them\n")
})

test('without a Pushgateway or --stdout it says what to set', async () => {
  const run = await activity(['collect', 'dockerhub', '--target', 'prom'])
  assert.is(run.code, 2)
  assert.match(run.stderr, /^activity: no Pushgateway: set PUSHGATEWAY_URL or pass --pushgateway URL, or --stdout to print the metrics\n$/)
})

test('a maximum rate-limit wait that is not seconds is refused in one line, exit 2, before any request', async () => {
  const before = api.requests.length
  const run = await activity(['collect', 'dockerhub', '--target', 'prom', '--stdout'], { DOCKERHUB_API_URL: api.url, DOCKERHUB_MAX_WAIT_SECONDS: '15m' })
  assert.is(run.code, 2)
  assert.is(run.stderr, 'activity: DOCKERHUB_MAX_WAIT_SECONDS=15m is not a number of seconds from 0 to 3600 (rate limits reset within the hour); unset it for the default 900, or 0 to never wait\n')
  assert.is(api.requests.length, before)
})

test('an unknown source names the known ones', async () => {
  const run = await activity(['collect', 'gitlab', '--target', 'x', '--stdout'])
  assert.is(run.code, 2)
  assert.match(run.stderr, /unknown source 'gitlab'; known sources: .*dockerhub/)
})

test.run()
