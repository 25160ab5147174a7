// GitOps on a real single-node Swarm: npm run up deploys the platform with its gitops service; then commits are
// pushed to the git remote that service serves, as a person does (`git push platform main`), and the swarm follows.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseDocument } from 'yaml'
import { serviceStates } from '../../stacks/deploy/converge.ts'
import { credentialsFile } from '../../scripts/lib/credentials.ts'
import { docker, jsonLines } from '../../stacks/deploy/docker.ts'
import { parseExposition, valueOf } from '../support/collect.ts'
import { buildData, defaultData } from '../support/fake-apis.ts'
import { requireBinary, tempDir } from '../support/servers.ts'
import { cleanUp, freshPlatform, gitopsAnswering, hostPorts, poll, pushedGroups, query, root, type Prepared } from './platform.ts'
import { apisClock } from './test-apis.ts'

const run = promisify(execFile)
const test = suite('gitops on a single-node swarm')
const log = (line: string) => process.stdout.write(`  ${line}\n`)
const echo = (line: string) => process.stdout.write(`    | ${line}\n`)
const gitopsPort = 8088
const newNamespace = 'bitnami'
const expectedPulls = new Map(buildData(defaultData, apisClock).dockerhub.namespaces[newNamespace]!.map((r) => [r.name, r.pull_count!]))

let prepared: Prepared | undefined
let repo: { path: string; remove(): void } | undefined
let remote = ''

async function git(...args: string[]): Promise<string> {
  const { stdout } = await run('git', args, { cwd: repo!.path, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } })
  return stdout.trim()
}

/** Writes (null: deletes) files, commits and pushes to the gitops remote; returns git's exit code and everything it printed. */
async function commitAndPush(message: string, files: Record<string, string | null>): Promise<{ code: number; output: string; seconds: number }> {
  for (const [file, content] of Object.entries(files)) {
    const path = join(repo!.path, file)
    if (content === null) rmSync(path)
    else writeFileSync(path, content)
  }
  await git('add', '-A')
  await git('-c', 'user.name=e2e', '-c', 'user.email=e2e@example.invalid', 'commit', '-qm', message)
  return push()
}

async function push(): Promise<{ code: number; output: string; seconds: number }> {
  const started = Date.now()
  try {
    const { stdout, stderr } = await run('git', ['push', remote, 'HEAD:main'], { cwd: repo!.path, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } })
    const output = stdout + stderr
    output.split('\n').filter(Boolean).forEach(echo)
    return { code: 0, output, seconds: (Date.now() - started) / 1000 }
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string }
    const output = (failed.stdout ?? '') + (failed.stderr ?? '')
    output.split('\n').filter(Boolean).forEach(echo)
    return { code: typeof failed.code === 'number' ? failed.code : 1, output, seconds: (Date.now() - started) / 1000 }
  }
}

/** The running task of every long-running service (collector jobs come and go with their schedule: left out). */
async function runningTasks(): Promise<Map<string, string>> {
  const text = await docker(['ps', '--filter', 'label=com.docker.stack.namespace', '--format', '{{json .Labels}}'])
  const tasks = new Map<string, string>()
  for (const line of text.split('\n').filter(Boolean)) {
    const labels = Object.fromEntries((JSON.parse(line) as string).split(',').map((pair) => pair.split('=', 2) as [string, string]))
    const service = labels['com.docker.swarm.service.name']
    if (service && !service.startsWith('collectors_')) tasks.set(service, labels['com.docker.swarm.task.id']!)
  }
  return tasks
}

/** The spec of every service (a hash of it): a deployment that changes a service changes it; a rolling update's progress does not. */
async function serviceVersions(): Promise<Map<string, string>> {
  const names = jsonLines<{ Name: string }>(await docker(['service', 'ls', '--filter', 'label=com.docker.stack.namespace', '--format', '{{json .}}'])).map((s) => s.Name)
  const specs = jsonLines<{ Spec: { Name: string } }>(await docker(['service', 'inspect', '--format', '{{json .}}', ...names]))
  return new Map(specs.map((s) => [s.Spec.Name, createHash('sha256').update(JSON.stringify(s.Spec)).digest('hex').slice(0, 12)]))
}

async function gitopsMetrics(): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${gitopsPort}/metrics`)
  return response.text()
}

/** A sample of the gitops service's metrics; 0 when it has none (a counter not yet counted). */
function metricValue(text: string, name: string, labels: Record<string, string>): number {
  return valueOf(parseExposition(text), name, labels) ?? 0
}

async function pushedJobs(): Promise<string[]> {
  return [...new Set((await pushedGroups()).map((g) => `${g.labels.job} ${g.labels.target}`))].sort()
}

/** activity.yml edited as a person would, comments kept. */
function editConfig(edit: (doc: ReturnType<typeof parseDocument>) => void): string {
  const doc = parseDocument(readFileSync(join(repo!.path, 'activity.yml'), 'utf8'))
  edit(doc)
  return doc.toString()
}

test.before(async () => {
  requireBinary('git', 'git')
  try {
    prepared = await freshPlatform(log, echo)
    // The platform repository as this work tree has it (committed or not): the tree up deployed.
    repo = tempDir('gitops-e2e-repo')
    const { stdout } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, maxBuffer: 64 * 1024 * 1024 })
    for (const file of stdout.split('\0').filter(Boolean)) {
      const from = join(root, file)
      try {
        mkdirSync(dirname(join(repo.path, file)), { recursive: true })
        cpSync(from, join(repo.path, file))
      } catch {
        // deleted in the work tree, not yet committed
      }
    }
    await git('init', '-q', '-b', 'main')
    await git('add', '-A')
    await git('-c', 'user.name=e2e', '-c', 'user.email=e2e@example.invalid', 'commit', '-qm', 'the platform as deployed')
    // The password up generated is told in the credentials file, in the remote line a person copies.
    const notes = readFileSync(credentialsFile(prepared.env), 'utf8')
    const password = /gitops git remote: git remote add platform http:\/\/platform:([^@\s]+)@/.exec(notes)?.[1]
    if (!password) throw new Error(`no gitops remote line in ${credentialsFile(prepared.env)}`)
    remote = `http://platform:${password}@127.0.0.1:${gitopsPort}/platform.git`
    await gitopsAnswering(gitopsPort)
  } catch (error) {
    log(`SETUP FAILED: ${(error as Error).stack ?? error}`)
    throw error
  }
})

test.after(async () => {
  await cleanUp(prepared, log)
  repo?.remove()
})

test('a push with a wrong password is refused, and the first push of the deployed tree restarts nothing', async () => {
  const wrong = await run('git', ['push', remote.replace(/:[^:@]+@/, ':wrong@'), 'HEAD:main'], { cwd: repo!.path, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } }).then(
    () => 0,
    (error: { code?: number; stderr?: string }) => (assert.match(error.stderr ?? '', /401|Authentication failed|could not read Username/i), error.code ?? 1),
  )
  assert.is.not(wrong, 0, 'a push with the wrong password fails')

  const tasks = await runningTasks()
  const versions = await serviceVersions()
  const first = await push()
  log(`first push: ${first.seconds.toFixed(1)} s`)
  assert.is(first.code, 0, 'the push is accepted')
  assert.match(first.output, /valid/)
  assert.match(first.output, /unchanged, the swarm already runs it/)
  assert.not.match(first.output, /services deployed/)
  assert.equal(await runningTasks(), tasks, 'every service keeps its task')
  assert.equal(await serviceVersions(), versions, 'no service spec changed')
})

test('a commit adding a Docker Hub namespace redeploys the collectors only, the new job runs, and Prometheus answers for it', async () => {
  const tasks = await runningTasks()
  const pushed = await commitAndPush(`watch the ${newNamespace} namespace on Docker Hub, every minute`, {
    'activity.yml': editConfig((doc) => {
      doc.addIn(['sources', 'dockerhub', 'targets'], newNamespace)
      doc.setIn(['sources', 'dockerhub', 'schedule'], '* * * * *')
    }),
  })
  log(`push with a new namespace: ${pushed.seconds.toFixed(1)} s`)
  assert.is(pushed.code, 0)
  assert.match(pushed.output, /stacks to deploy: collectors\b/)
  assert.match(pushed.output, /collectors: \d+ services deployed/)
  assert.match(pushed.output, /: deployed collectors in /)
  assert.equal(await runningTasks(), tasks, 'no other service was restarted')
  const schedule = await docker(['service', 'inspect', '--format', '{{index .Spec.Labels "activity.schedule"}}', 'collectors_dockerhub'])
  assert.is(schedule.trim(), '* * * * *')

  const pulls = await poll(`the metrics Prometheus to have the ${newNamespace} namespace's pulls`, async () => {
    const series = await query(hostPorts.metricsPrometheus, `dockerhub_repository_pulls{namespace="${newNamespace}"}`)
    return series.length === expectedPulls.size ? series : undefined
  }, 180_000, 2000)
  assert.equal(
    pulls.map((s) => [s.metric.repository!, s.value]).sort(),
    [...expectedPulls.entries()].sort(),
  )
  assert.ok((await pushedJobs()).includes(`dockerhub ${newNamespace}`), 'the Pushgateway holds the new group')
})

test('a commit adding the npm source with one package in a project deploys its job, and its series reach Prometheus with their project label', async () => {
  const npm = buildData(defaultData, apisClock).npm
  const days = npm.packages['prom-client']!
  const pushed = await commitAndPush('watch prom-client on npm, in the prometheus project', {
    'activity.yml': editConfig((doc) => {
      doc.setIn(['sources', 'npm'], doc.createNode({ targets: ['prom-client'] }))
      doc.setIn(['projects'], doc.createNode({ prometheus: { npm: ['prom-client'] } }))
    }),
  })
  log(`push adding the npm source: ${pushed.seconds.toFixed(1)} s`)
  assert.is(pushed.code, 0, pushed.output)
  assert.match(pushed.output, /stacks to deploy: collectors\b/)
  await poll('collectors_npm to be created', async () => (await docker(['service', 'ls', '--format', '{{.Name}}'])).split('\n').includes('collectors_npm'), 60_000)
  const last = await poll("the metrics Prometheus to have prom-client's last day", async () => {
    const series = await query(hostPorts.metricsPrometheus, 'npm_package_downloads_last_day{package="prom-client"}')
    return series.length ? series : undefined
  }, 180_000, 2000)
  assert.equal(last.map((s) => [s.metric.job, s.metric.target, s.metric.project, s.value]), [['npm', 'prom-client', 'prometheus', days.at(-1)!.downloads]])
  // The days went in by remote write with their own timestamps: the last one answers at its 00:00 UTC.
  const lastDay = Date.parse(`${npm.lastDay}T00:00:00Z`) / 1000
  const day = await query(hostPorts.metricsPrometheus, 'npm_package_daily_downloads{package="prom-client",project="prometheus"}', lastDay)
  assert.equal(day.map((s) => s.value), [days.at(-1)!.downloads])
})

test('the scheduler re-runs a job on a one-minute schedule', async () => {
  const started = () => gitopsMetrics().then((m) => metricValue(m, 'activity_gitops_job_runs_total', { service: 'collectors_dockerhub', result: 'started' }))
  const before = await started()
  // The next minute: gitops starts the job (its counter says so), and Swarm runs it to completion.
  await poll('the scheduler to start collectors_dockerhub again', async () => (await started()) > before, 150_000, 2000)
  const since = Date.now() - 5000
  const rerun = await poll('the scheduled run to complete', async () => {
    const [state] = await serviceStates(['collectors_dockerhub'], since)
    return state?.finishedAt && Date.parse(state.finishedAt) > since && state.ready ? state : undefined
  }, 120_000, 2000)
  assert.is(rerun.exitCode, 0, 'the scheduled run succeeded')
})

test('a commit touching only the app stack redeploys only the app', async () => {
  const tasks = await runningTasks()
  const conf = readFileSync(join(repo!.path, 'stacks/app/nginx.conf'), 'utf8')
  const pushed = await commitAndPush('nginx: a comment', { 'stacks/app/nginx.conf': `# edited by the gitops e2e\n${conf}` })
  assert.is(pushed.code, 0)
  assert.match(pushed.output, /stacks to deploy: app\s*$/m)
  assert.match(pushed.output, /: deployed app in /)
  const after = await poll('the new nginx task to run', async () => {
    const now = await runningTasks()
    return now.get('app_nginx') && now.get('app_nginx') !== tasks.get('app_nginx') ? now : undefined
  }, 120_000)
  for (const [service, task] of tasks) if (service !== 'app_nginx') assert.is(after.get(service), task, `${service} keeps its task`)
  const served = await poll('nginx to answer', async () => (await fetch('http://127.0.0.1:8080/').catch(() => undefined))?.status, 60_000)
  assert.ok(served < 500, 'the new nginx serves')
})

test('a commit with a broken stack file is refused in the push answer, and nothing running changes', async () => {
  const tasks = await runningTasks()
  const versions = await serviceVersions()
  const metrics = readFileSync(join(repo!.path, 'stacks/metrics.yml'), 'utf8')
  const pushed = await commitAndPush('a broken stack file', { 'stacks/metrics.yml': metrics.replace(/^services:\n/m, 'services:\n  broken: [\n') })
  // The remote refused it: the work tree goes back too, whatever the assertions say.
  await git('reset', '-q', '--hard', 'HEAD~1')
  assert.is.not(pushed.code, 0, 'git push fails')
  assert.match(pushed.output, /invalid: stacks\/metrics\.yml/)
  assert.match(pushed.output, /refused; the running platform is unchanged/)
  assert.equal(await runningTasks(), tasks)
  for (const [service, version] of versions) if (!service.startsWith('collectors_')) assert.is((await serviceVersions()).get(service), version, `${service} unchanged`)
  assert.match(await gitopsMetrics(), /^activity_gitops_validation_failures_total [1-9]/m, 'gitops counts the refused commit')
})

test("a commit removing a source removes its service and its metrics groups", async () => {
  assert.ok((await pushedJobs()).some((g) => g.startsWith('dockerhub ')))
  const pushed = await commitAndPush('stop watching Docker Hub', { 'activity.yml': editConfig((doc) => doc.deleteIn(['sources', 'dockerhub'])) })
  assert.is(pushed.code, 0)
  assert.match(pushed.output, /stacks to deploy: collectors\b/)
  assert.match(pushed.output, /removed the metrics of dockerhub /)
  await poll('collectors_dockerhub to be removed', async () => !(await docker(['service', 'ls', '--format', '{{.Name}}'])).split('\n').includes('collectors_dockerhub'), 60_000)
  const jobs = await pushedJobs()
  assert.not.ok(jobs.some((g) => g.startsWith('dockerhub ')), `no dockerhub group is left: ${jobs.join(', ')}`)
  assert.ok(jobs.some((g) => g.startsWith('github ')), 'the github groups stay')
})

/** A source that exists only in this test: it asks the Pushgateway (on every collector's network) for its status. */
const probeCollector = `// collectors/e2eprobe.ts: added by the gitops e2e, as a person adds a source.
import * as v from 'valibot'
import { defineCollector } from './runtime/define.ts'

export default defineCollector({
  name: 'e2eprobe',
  description: 'e2e: whether a Pushgateway answers its status API',
  schedule: '0 0 * * *',
  targets: v.pipe(v.string('must be a URL'), v.url('must be a URL'), v.transform((id) => ({ id }))),
  example: 'http://metrics_pushgateway:9091',
  metrics: { e2eprobe_up: { help: 'The probed Pushgateway answered (1).', labels: ['url'] } },
  async collect(target, { http, metrics }) {
    await http.getJson(\`\${target.id}/api/v1/status\`)
    metrics.gauge('e2eprobe_up', 1, { url: target.id })
  },
})
`

test('a commit adding a collector file and its activity.yml entry is checked by its own code, then deployed, and its job reaches Prometheus', async () => {
  const bad = await commitAndPush('a new source, with a bad target', {
    'collectors/e2eprobe.ts': probeCollector,
    'activity.yml': editConfig((doc) => doc.setIn(['sources', 'e2eprobe'], doc.createNode({ targets: ['not a url'] }))),
  })
  log(`push of a new source with a bad target: ${bad.seconds.toFixed(1)} s`)
  await git('reset', '-q', '--hard', 'HEAD~1')
  assert.is.not(bad.code, 0, 'refused')
  assert.match(bad.output, /new sources in this commit: e2eprobe/)
  assert.match(bad.output, /invalid: activity\.yml:\d+: sources\.e2eprobe\.targets\[0\]: must be a URL/)

  const good = await commitAndPush('a new source', {
    'collectors/e2eprobe.ts': probeCollector,
    'activity.yml': editConfig((doc) => doc.setIn(['sources', 'e2eprobe'], doc.createNode({ targets: ['http://metrics_pushgateway:9091'] }))),
  })
  log(`push of a new source: ${good.seconds.toFixed(1)} s`)
  assert.is(good.code, 0)
  assert.match(good.output, /stacks to deploy: collectors, gitops/)
  assert.match(good.output, /collectors: \d+ services deployed/)
  const up = await poll('the metrics Prometheus to have the new source\'s metric', async () => {
    const series = await query(hostPorts.metricsPrometheus, 'e2eprobe_up')
    return series.length ? series : undefined
  }, 240_000, 2000)
  assert.equal(up.map((s) => [s.metric.job, s.metric.url, s.value]), [['e2eprobe', 'http://metrics_pushgateway:9091', 1]])
  // gitops rebuilt itself with the new collector (its image bundles them) and runs again.
  const head = await git('rev-parse', 'HEAD')
  await poll('the new gitops service to know it runs this commit', async () => {
    const metrics = await gitopsMetrics().catch(() => '')
    return metrics.includes(`activity_gitops_deployed_commit_info{stack="gitops",commit="${head}"} 1`)
  }, 180_000, 2000)
})

/** The gitops service's log since `since` (it logs on stderr: both streams are read). */
async function gitopsLogs(since: string): Promise<string> {
  const { stdout, stderr } = await run('docker', ['service', 'logs', '--raw', '--since', since, 'gitops_gitops'], { maxBuffer: 64 * 1024 * 1024 })
  return stdout + stderr
}

test('a commit the swarm cannot run is reported in the push answer and retried by gitops, and the next good commit deploys', async () => {
  const app = readFileSync(join(repo!.path, 'stacks/app.yml'), 'utf8')
  const attempts = async (result: string, attempt: string) => metricValue(await gitopsMetrics(), 'activity_gitops_deploy_attempts_total', { result, attempt })
  const retriesBefore = await attempts('failed', 'retry')
  const nginx = (await runningTasks()).get('app_nginx')
  const since = new Date().toISOString()
  const bad = await commitAndPush('a service whose image does not exist', {
    'stacks/app.yml': app.replace(/^services:\n/m, 'services:\n  absent:\n    image: activity-test/absent:1\n    deploy:\n      resources:\n        limits: {memory: 16M}\n'),
  })
  log(`push of a commit the swarm cannot run: ${bad.seconds.toFixed(1)} s`)
  const short = (await git('rev-parse', 'HEAD')).slice(0, 7)
  assert.is(bad.code, 0, 'the commit is valid: the branch moves')
  assert.match(bad.output, /remote: failed: app: the swarm does not run it: app_absent FAILED/)
  assert.match(bad.output, new RegExp(`remote: ${short}: attempt 1 failed; gitops tries again in 30 s`))
  assert.match(bad.output, new RegExp(`remote: ${short}: failed`))
  const failed = await gitopsMetrics()
  assert.is(metricValue(failed, 'activity_gitops_last_deploy_success', { stack: 'app' }), 0)
  assert.is(metricValue(failed, 'activity_gitops_failed_attempts', {}), 1)

  // Nobody pushes: gitops tries the commit again by itself, 30 s later, and the swarm refuses it again.
  const retried = Date.now()
  await poll('gitops to try the failed commit again', async () => (await attempts('failed', 'retry')) > retriesBefore, 150_000, 2000)
  log(`second attempt counted ${((Date.now() - retried) / 1000).toFixed(1)} s after the push answer`)
  assert.match(await gitopsLogs(since), /"msg":"deployment failed".*"attempt":2/, 'the second attempt is a line in the log')
  assert.is(metricValue(await gitopsMetrics(), 'activity_gitops_failed_attempts', {}), 2)
  assert.is((await runningTasks()).get('app_nginx'), nginx, 'nginx, which the commit did not change, kept its task')

  const good = await commitAndPush('no service whose image does not exist', { 'stacks/app.yml': app })
  log(`push of the fix: ${good.seconds.toFixed(1)} s`)
  assert.is(good.code, 0)
  assert.match(good.output, /stacks to deploy: app\s*$/m)
  assert.match(good.output, /: deployed app in /)
  const fixed = await gitopsMetrics()
  assert.is(metricValue(fixed, 'activity_gitops_last_deploy_success', { stack: 'app' }), 1)
  assert.is(metricValue(fixed, 'activity_gitops_failed_attempts', {}), 0)
  assert.not.ok((await docker(['service', 'ls', '--format', '{{.Name}}'])).split('\n').includes('app_absent'), 'the service that could not run is gone')
})

test('restarting the gitops service deploys nothing', async () => {
  const versions = await serviceVersions()
  const task = (await runningTasks()).get('gitops_gitops')
  assert.ok(task, 'gitops runs')
  const since = new Date().toISOString()
  await docker(['service', 'update', '--detach', '--force', 'gitops_gitops'])
  await poll('the restarted gitops service to answer', async () => {
    const now = (await runningTasks()).get('gitops_gitops')
    return now && now !== task && (await fetch(`http://127.0.0.1:${gitopsPort}/healthz`).catch(() => undefined))?.ok
  }, 120_000, 2000).catch(async (error: Error) => {
    // What the swarm and the service say, for whoever reads the failure.
    log(await docker(['service', 'ps', '--no-trunc', '--format', '{{.ID}} {{.Image}} {{.DesiredState}} {{.CurrentState}} {{.Error}}', 'gitops_gitops']).catch((e: Error) => e.message))
    for (const line of (await gitopsLogs(since).catch((e: Error) => e.message)).split('\n').slice(-30)) echo(line)
    throw error
  })
  // Give a resumed deployment, if there were one, the time to start.
  await new Promise((resolve) => setTimeout(resolve, 5000))
  const logs = await gitopsLogs(since)
  assert.match(logs, /"msg":"gitops ready"/, 'the new process started')
  assert.not.match(logs, /"msg":"deploying"/, 'the restarted service deploys nothing')
  const after = await serviceVersions()
  for (const [service, version] of versions) {
    if (service === 'gitops_gitops' || service.startsWith('collectors_')) continue
    assert.is(after.get(service), version, `${service} unchanged`)
  }
  const metrics = await gitopsMetrics()
  assert.match(metrics, /activity_gitops_deployed_commit_info\{stack="collectors"/, 'it still knows what it deployed')
  assert.not.match(metrics, /activity_gitops_deployments_total\{outcome="deployed"\}/, 'and has deployed nothing since it started')
})

test.run()
