// The history of a ten-year repository (50,000 stars, 20,000 issues and pull requests, 5,000 forks, 15,000 commits) on
// the local fake GitHub, written by the built `activity history github` (a child process under GNU time) into a real
// Prometheus by remote write, and printed with --openmetrics: requests and points, wall time, the job's peak RSS.
// Targets (issue 17): at most one GraphQL request per 100 items, stars at one REST request per 30 weeks, peak RSS of
// the job at most 150 MB; exits non-zero when one is missed.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cliPath } from '../support/cli.ts'
import { startGitHubApi, type FakeGitHub } from '../support/github-api.ts'
import { owner } from '../support/github-data.ts'
import { starWeeks } from '../support/github-history-api.ts'
import { generatedHistory, historyRepository, tenYears } from '../support/github-history-data.ts'
import { startPrometheus, startPushgateway } from '../support/prometheus.ts'
import { requireBinary, tempDir } from '../support/servers.ts'

const time = requireBinary('/usr/bin/time', 'time')
const dir = tempDir('github-history-bench')
const history = generatedHistory('prometheus/prometheus', tenYears, Math.floor(Date.now() / 1000) - 7200)
const items = tenYears.issues + tenYears.pullRequests + tenYears.forks + tenYears.releases + tenYears.commits
const connections = [tenYears.issues, tenYears.pullRequests, tenYears.forks, tenYears.releases, tenYears.commits]
const weeks = starWeeks(history, Date.now() / 1000).length
const targets = { graphqlRequests: 1 + connections.reduce((sum, n) => sum + Math.ceil(n / 100), 0), restRequests: Math.ceil(weeks / 30), peakMiB: 150 }

interface Measured {
  code: number
  stderr: string
  peakKiB: number
  seconds: number
}

function measured(args: string[], env: Record<string, string>): Promise<Measured> {
  const report = join(dir.path, 'time.txt')
  return new Promise((resolve) => {
    const child = spawn(time, ['-f', '%M %e', '-o', report, process.execPath, cliPath, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('close', (code) => {
      const [kib, seconds] = readFileSync(report, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number)
      resolve({ code: code ?? -1, stderr, peakKiB: kib!, seconds: seconds! })
    })
  })
}

const line = (label: string, value: string | number, note = '') => console.log(`  ${label.padEnd(40)} ${String(value).padStart(10)}  ${note}`)
let missed = 0
const check = (ok: boolean, what: string) => {
  if (!ok) {
    missed++
    console.log(`  MISSED: ${what}`)
  }
}

async function measure(name: string, args: string[], extra: Record<string, string>): Promise<void> {
  const api: FakeGitHub = await startGitHubApi({ owners: [owner('prometheus', [historyRepository('prometheus', history)])] })
  try {
    const run = await measured(['history', 'github', '--target', 'prometheus/prometheus', ...args], { GITHUB_API_URL: api.url, GITHUB_TOKEN: 'ghp_bench', ...extra })
    if (run.code !== 0) throw new Error(`${name}: exit ${run.code}: ${run.stderr.slice(-2000)}`)
    console.log(`${name}:`)
    line('GraphQL requests', api.graphqlRequests, `target <= ${targets.graphqlRequests} (one per 100 of ${items.toLocaleString('en-US')} items, plus the repository's counts)`)
    line('GraphQL points', api.points, 'one per page of 100')
    line('REST requests (star history)', api.restRequests, `target <= ${targets.restRequests} (${weeks} weeks, 30 a page, for ${tenYears.stars.toLocaleString('en-US')} stars)`)
    line('wall time', `${run.seconds.toFixed(2)} s`, 'the whole command, Node start-up included')
    line('peak RSS of the job', `${(run.peakKiB / 1024).toFixed(0)} MiB`, `target <= ${targets.peakMiB} MB`)
    check(api.graphqlRequests <= targets.graphqlRequests, `${name}: ${api.graphqlRequests} GraphQL requests`)
    check(api.restRequests <= targets.restRequests, `${name}: ${api.restRequests} REST requests`)
    check(run.peakKiB * 1024 <= targets.peakMiB * 1_000_000, `${name}: peak RSS ${run.peakKiB} KiB`)
  } finally {
    await api.close()
  }
}

console.log(`github history: a ${tenYears.years}-year repository, ${tenYears.stars.toLocaleString('en-US')} stars, ${(tenYears.issues + tenYears.pullRequests).toLocaleString('en-US')} issues and pull requests, ${tenYears.forks.toLocaleString('en-US')} forks, ${tenYears.commits.toLocaleString('en-US')} commits, ${tenYears.releases} releases`)
const gateway = await startPushgateway()
const prometheus = await startPrometheus({
  pushgateways: [gateway.url],
  flags: ['--web.enable-remote-write-receiver', '--storage.tsdb.retention.time=30y'],
  extraConfig: 'storage:\n  tsdb:\n    out_of_order_time_window: 25y\n',
})
try {
  await measure('into a real Prometheus (remote write)', [], { METRICS_PROMETHEUS_URL: prometheus.url, PUSHGATEWAY_URL: gateway.url })
  await measure('printed (--openmetrics)', ['--openmetrics'], {})
} finally {
  await Promise.all([gateway.stop(), prometheus.stop()])
  dir.remove()
}
process.exitCode = missed ? 1 : 0
