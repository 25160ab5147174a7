// The built `activity collect github` against a fake GitHub owner of 5,000 repositories, as a job runs it: exit 0,
// every repository's metrics as the fake's data says, within the collectors job's memory limit. Prints time, requests,
// points and peak memory of each run (with a token: GraphQL; without: the REST listing).
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cliPath } from '../support/cli.ts'
import { parseExposition, type Sample } from '../support/collect.ts'
import { startGitHubApi, type FakeGitHub } from '../support/github-api.ts'
import { generatedOwner } from '../support/github-data.ts'
import { expectedMetrics, restListingMetrics } from '../support/github-expected.ts'
import { requireBinary, tempDir } from '../support/servers.ts'

const repositories = 5000
/** The collectors job's memory limit (stacks/collectors-stack.ts: resources.limits.memory 256M). */
const memoryLimitKiB = 256 * 1024
const org = generatedOwner('huge-org', repositories)
const dir = tempDir('github-large')
const time = requireBinary('/usr/bin/time', 'time')
let api: FakeGitHub

interface Measured {
  code: number
  stdout: string
  stderr: string
  peakRssKiB: number
  seconds: number
}

/** Runs the bundled command under GNU time: its exit code, output, peak resident memory and wall-clock time. */
function measured(args: string[], env: Record<string, string>): Promise<Measured> {
  const report = join(dir.path, 'time.txt')
  return new Promise((resolve) => {
    const child = spawn(time, ['-f', '%M %e', '-o', report, process.execPath, cliPath, ...args], { env: { PATH: process.env.PATH, ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('close', (code) => {
      const [rss, seconds] = readFileSync(report, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number)
      resolve({ code: code ?? -1, stdout, stderr, peakRssKiB: rss!, seconds: seconds! })
    })
  })
}

/** name + labels → value, for looking up 75,000 samples by repository. */
function indexed(samples: Sample[]): Map<string, number> {
  return new Map(samples.map((s) => [`${s.name} ${s.labels.repository ?? ''}`, s.value]))
}

const test = suite(`github collector, owner of ${repositories} repositories`)
test.before(async () => {
  api = await startGitHubApi({ owners: [org], restRequests: { anonymous: 60 } })
})
test.after(async () => {
  await api.close()
  dir.remove()
})

test('with a token (GraphQL): exit 0, every repository’s metrics, 50 requests, within the job’s memory', async () => {
  const run = await measured(['collect', 'github', '--target', 'huge-org', '--stdout'], { GITHUB_API_URL: api.url, GITHUB_TOKEN: 'ghp_large' })
  assert.is(run.code, 0, run.stderr.slice(-2000))
  const values = indexed(parseExposition(run.stdout))
  for (const repo of org.repositories) {
    for (const [name, want] of Object.entries(expectedMetrics(repo, 5))) assert.is(values.get(`${name} ${repo.name}`), want, `${name} of ${repo.name}`)
  }
  assert.is(values.get('github_owner_repositories '), repositories)
  assert.is(values.get('github_owner_stars '), org.repositories.reduce((sum, r) => sum + r.stargazerCount, 0))
  assert.is(api.graphqlRequests, repositories / 100)
  assert.is(values.get('activity_collector_api_requests '), api.graphqlRequests, 'requests as the fake counted them')
  assert.is(values.get('activity_collector_rate_limit_points '), api.points, 'points as the fake billed them')
  assert.ok(run.peakRssKiB < memoryLimitKiB, `peak RSS ${run.peakRssKiB} KiB < the job's 256 MiB`)
  console.log(`GraphQL: ${run.seconds} s, ${api.graphqlRequests} requests, ${api.points} points, peak RSS ${(run.peakRssKiB / 1024).toFixed(0)} MiB`)
})

test('without a token (REST): exit 0, what the listing gives of every repository, 50 requests', async () => {
  const run = await measured(['collect', 'github', '--target', 'huge-org', '--stdout'], { GITHUB_API_URL: api.url })
  assert.is(run.code, 0, run.stderr.slice(-2000))
  const values = indexed(parseExposition(run.stdout))
  for (const repo of org.repositories) {
    const want = expectedMetrics(repo, 5)
    for (const name of restListingMetrics) assert.is(values.get(`${name} ${repo.name}`), name === 'github_repository_disk_usage_bytes' ? (repo.diskUsage ?? 0) * 1024 : want[name], `${name} of ${repo.name}`)
  }
  assert.is(values.get('github_owner_repositories '), repositories)
  assert.is(api.restRequests, repositories / 100)
  assert.is(values.get('activity_collector_api_requests '), api.restRequests)
  assert.is(values.get('activity_collector_rate_limit_points '), api.restRequests, 'one of the hour’s 60 per request')
  assert.is(values.get('activity_collector_rate_limit_remaining '), 60 - api.restRequests)
  assert.ok(run.peakRssKiB < memoryLimitKiB, `peak RSS ${run.peakRssKiB} KiB < the job's 256 MiB`)
  console.log(`REST: ${run.seconds} s, ${api.restRequests} requests, ${api.restRequests} points (requests of the hour's 60), peak RSS ${(run.peakRssKiB / 1024).toFixed(0)} MiB`)
})

test.run()
