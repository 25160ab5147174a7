// What the Swarm e2e and the up benchmark share: a prepared engine (swarm, stand-ins, test APIs), the scripts run as a
// person runs them (npm run up|down|status), the services left out and why, and queries from the host.
import { execFile, spawn, spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { parse } from 'yaml'
import { loadConfig } from '../../collectors/runtime/activity-yml.ts'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import { credentialsFile } from '../../scripts/lib/credentials.ts'
import { docker, dockerMaybe, engineInfo, jsonLines } from '../../stacks/deploy/docker.ts'
import { ensureSwarm } from '../../stacks/deploy/swarm.ts'
import { requireBinary, startApiServer, waitFor, type ApiServer } from '../support/servers.ts'
import { buildStandIns, nodeStandIn } from './standins.ts'
import { collectorsOverlay, fakeApis, removeTestApis, startTestApis } from './test-apis.ts'

export const root = new URL('../../', import.meta.url).pathname
export const overlayDir = join(root, 'test/e2e/overlay')
export const configFile = join(root, 'activity.yml')

/** Host ports the e2e overlay publishes (test/e2e/overlay/README.md). */
export const hostPorts = { metricsPrometheus: 9090, pushgateway: 9091, monitoringPrometheus: 9093, alertmanager: 9094 }

export interface Absent {
  service: string
  reason: string
}

/** Services that do not run here, with the reason: those the overlays list under x-e2e-absent (no stand-in image). */
export function absentServices(): Absent[] {
  const absent: Absent[] = []
  for (const file of readdirSync(overlayDir).filter((f) => f.endsWith('.yml')).sort()) {
    const stack = file.replace(/\.yml$/, '')
    const listed = (parse(readFileSync(join(overlayDir, file), 'utf8')) as { 'x-e2e-absent'?: Record<string, string> })['x-e2e-absent'] ?? {}
    for (const [service, reason] of Object.entries(listed)) absent.push({ service: `${stack}_${service}`, reason })
  }
  return absent
}

export interface Prepared {
  /** Arguments after `npm run up --`. */
  upArgs: string[]
  /** Environment of the scripts: where the collectors find the fake APIs, the token, and where logins are written. */
  env: Record<string, string>
  sources: string[]
  remove(): void
}

/**
 * The engine answers; the swarm is active; base image and stand-ins are there; nothing of the platform runs (what a run
 * that died before its clean-up left is removed first: its collector services hold the test APIs' network); the test
 * APIs run; the overlays are written.
 */
export async function cleanPlatform(log: (line: string) => void): Promise<Prepared> {
  requireBinary('docker', 'docker.io')
  const info = await engineInfo()
  if (!info) throw new Error('no Docker Engine answers: start it (bash test/e2e/ci-setup.sh starts dockerd in the background)')
  log(`swarm: ${await ensureSwarm(info, '127.0.0.1')}`)
  const base = spawnSync('bash', [join(root, 'test/e2e/base-image.sh')], { encoding: 'utf8' })
  if (base.status !== 0) throw new Error(`test/e2e/base-image.sh failed: ${base.stdout}${base.stderr}`)
  log(base.stdout.trim())
  await buildStandIns(log)
  const config = loadConfig(configFile, await loadCollectors(new URL('../../collectors/', import.meta.url)))
  const sources = config.sources.map((s) => s.name)
  const extra = mkdtempSync(join(tmpdir(), 'activity-e2e-overlay-'))
  // The history jobs call the same APIs as their source's job: they join the test APIs' network too. So do npm and its
  // history job, which a test adds by a commit (the overlay drops the jobs of sources that are not configured).
  collectorsOverlay(extra, [...config.sources.flatMap((s) => (s.collector.history ? [s.name, `${s.name}-history`] : [s.name])), 'npm', 'npm-history'])
  const home = mkdtempSync(join(tmpdir(), 'activity-e2e-home-'))
  const prepared: Prepared = {
    upArgs: [
      '--overlay', overlayDir,
      '--overlay', extra,
      '--without', absentServices().map((a) => a.service).join(','),
      '--node-image', nodeStandIn.tag,
      '--endpoint-mode', 'dnsrr',
      '--timeout', '300',
    ],
    env: {
      GITHUB_API_URL: fakeApis.url,
      DOCKERHUB_API_URL: fakeApis.url,
      NPM_API_URL: fakeApis.url,
      // The fake GitHub takes any token: this one makes the collector use GraphQL, and up create the github_token secret.
      GITHUB_TOKEN: 'e2e-token-for-the-fake-github',
      ACTIVITY_HOME: home,
      DOCKER_BUILDKIT: '0',
    },
    sources,
    remove: () => {
      rmSync(extra, { recursive: true, force: true })
      rmSync(home, { recursive: true, force: true })
    },
  }
  try {
    const down = await npmRun('down', ['--volumes'], prepared.env)
    if (down.code !== 0) throw new Error(`npm run down -- --volumes failed: ${down.output}`)
    await removeTestApis(log)
    await startTestApis()
  } catch (error) {
    prepared.remove()
    throw error
  }
  return prepared
}

export interface Ran {
  code: number
  output: string
  seconds: number
}

/** `npm run <script> -- args`, as a person runs it; its output is echoed (indented) for the test's log. */
export function npmRun(script: 'up' | 'down' | 'status', args: string[], env: Record<string, string>, echo: (line: string) => void = () => {}): Promise<Ran> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', script, '--', ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    let partial = ''
    const take = (chunk: Buffer) => {
      output += chunk
      const lines = (partial + chunk).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) echo(line)
    }
    child.stdout.on('data', take)
    child.stderr.on('data', take)
    child.on('error', reject)
    child.on('close', (code) => {
      if (partial) echo(partial)
      resolve({ code: code ?? 1, output, seconds: (Date.now() - started) / 1000 })
    })
  })
}

/** Removes everything the e2e made: the platform with its data, the test APIs and their network. The swarm stays. */
export async function cleanUp(prepared: Prepared | undefined, log: (line: string) => void): Promise<void> {
  const down = await npmRun('down', ['--volumes'], prepared?.env ?? {})
  log(`clean-up: npm run down -- --volumes exited ${down.code}`)
  await removeTestApis(log)
  prepared?.remove()
}

/** Platform services (stack label) that exist now. */
export async function platformServices(): Promise<string[]> {
  return jsonLines<{ Name: string }>(await docker(['service', 'ls', '--filter', 'label=com.docker.stack.namespace', '--format', '{{json .}}'])).map((s) => s.Name)
}

export async function volumeExists(name: string): Promise<boolean> {
  return (await dockerMaybe(['volume', 'inspect', name])) !== undefined
}

export interface Series {
  metric: Record<string, string>
  value: number
}

/** An instant query to a Prometheus published on the host, now or at `time` (Unix seconds). */
export async function query(port: number, expression: string, time?: number): Promise<Series[]> {
  const response = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expression)}${time === undefined ? '' : `&time=${time}`}`)
  const body = (await response.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } }
  if (body.status !== 'success') throw new Error(`query ${expression} on port ${port}: ${JSON.stringify(body)}`)
  return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }))
}

export interface PushedGroup {
  labels: Record<string, string>
  push_time_seconds?: { metrics: { value: string }[] }
  [metric: string]: unknown
}

/** Every group the Pushgateway published on the host holds. */
export async function pushedGroups(): Promise<PushedGroup[]> {
  const response = await fetch(`http://127.0.0.1:${hostPorts.pushgateway}/api/v1/metrics`)
  return ((await response.json()) as { data: PushedGroup[] }).data
}

/** cleanPlatform, then `npm run up` as a person runs it; throws when it fails. */
export async function freshPlatform(log: (line: string) => void, echo: (line: string) => void): Promise<Prepared> {
  const prepared = await cleanPlatform(log)
  const up = await npmRun('up', prepared.upArgs, prepared.env, echo)
  if (up.code !== 0) throw new Error(`npm run up failed (exit ${up.code})`)
  return prepared
}

/** Polls `check` every `intervalMs` (slower than waitFor's default: each check runs docker). */
export function poll<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs: number, intervalMs = 1000): Promise<T> {
  return waitFor(what, check, timeoutMs, intervalMs)
}

/** Every platform service's spec as `docker service inspect` gives it (what Swarm runs), by service name. */
export async function serviceSpecs(): Promise<Map<string, ServiceSpec>> {
  const names = await platformServices()
  if (!names.length) return new Map()
  const specs = jsonLines<{ Spec: ServiceSpec }>(await docker(['service', 'inspect', '--format', '{{json .}}', ...names]))
  return new Map(specs.map((s) => [s.Spec.Name, s.Spec]))
}

/** The part of a Swarm service spec the tests read. */
export interface ServiceSpec {
  Name: string
  Labels?: Record<string, string>
  TaskTemplate: { ContainerSpec: { Image: string; Args?: string[]; Env?: string[] }; ForceUpdate?: number }
  Mode: { Replicated?: { Replicas: number }; ReplicatedJob?: unknown; Global?: unknown }
  [key: string]: unknown
}

/** The gitops service's git remote on the host port the e2e overlay publishes, with the password up wrote to the credentials file. */
export function gitopsRemote(prepared: Prepared, port = 8088): string {
  const notes = readFileSync(credentialsFile(prepared.env), 'utf8')
  const password = /gitops git remote: git remote add platform http:\/\/platform:([^@\s]+)@/.exec(notes)?.[1]
  if (!password) throw new Error(`no gitops remote line in ${credentialsFile(prepared.env)}`)
  return `http://platform:${password}@127.0.0.1:${port}/platform.git`
}

/** Waits until the gitops service answers on its host port (its task starts after up returns). */
export async function gitopsAnswering(port = 8088): Promise<void> {
  await poll('the gitops service to answer', async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok, 120_000)
}

/**
 * A webhook receiver on this host where the swarm's containers reach it (the gateway of their bridge to it,
 * docker_gwbridge), answering 200 to every request it records; `base` is its address as the containers see it.
 */
export async function hostReceiver(): Promise<{ server: ApiServer; base: string }> {
  const gateway = (await docker(['network', 'inspect', 'docker_gwbridge', '--format', '{{(index .IPAM.Config 0).Gateway}}'])).trim()
  const server = await startApiServer(() => ({ body: 'ok' }), { host: gateway })
  return { server, base: `http://${gateway}:${new URL(server.url).port}` }
}

export interface PlatformRepo {
  path: string
  git(...args: string[]): Promise<string>
  /** Writes (null: deletes) files and commits them; pushes HEAD to `remote` as main; git's exit code and all it printed. */
  commitAndPush(remote: string, message: string, files: Record<string, string | null>): Promise<{ code: number; output: string; seconds: number }>
  remove(): void
}

const execFileAsync = promisify(execFile)

/**
 * The platform repository as this work tree has it (committed or not), with `changes` written over it, in a temporary
 * git repository of its own: the tree up deploys (with --config <path>/activity.yml) and gitops is pushed.
 */
export async function platformRepo(changes: Record<string, string> = {}): Promise<PlatformRepo> {
  const path = mkdtempSync(join(tmpdir(), 'activity-e2e-repo-'))
  const env = { ...process.env, GIT_TERMINAL_PROMPT: '0' }
  const git = async (...args: string[]) => (await execFileAsync('git', args, { cwd: path, env, maxBuffer: 64 * 1024 * 1024 })).stdout.trim()
  const { stdout } = await execFileAsync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, maxBuffer: 64 * 1024 * 1024 })
  for (const file of stdout.split('\0').filter(Boolean)) {
    try {
      mkdirSync(dirname(join(path, file)), { recursive: true })
      cpSync(join(root, file), join(path, file))
    } catch {
      // deleted in the work tree, not yet committed
    }
  }
  for (const [file, content] of Object.entries(changes)) writeFileSync(join(path, file), content)
  const commit = (message: string) => git('-c', 'user.name=e2e', '-c', 'user.email=e2e@example.invalid', 'commit', '-qm', message)
  await git('init', '-q', '-b', 'main')
  await git('add', '-A')
  await commit('the platform as deployed')
  return {
    path,
    git,
    async commitAndPush(remote, message, files) {
      for (const [file, content] of Object.entries(files)) {
        if (content === null) rmSync(join(path, file))
        else writeFileSync(join(path, file), content)
      }
      await git('add', '-A')
      await commit(message)
      const started = Date.now()
      const pushed = await execFileAsync('git', ['push', remote, 'HEAD:main'], { cwd: path, env }).then(
        ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
        (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof error.code === 'number' ? error.code : 1, output: (error.stdout ?? '') + (error.stderr ?? '') }),
      )
      return { ...pushed, seconds: (Date.now() - started) / 1000 }
    },
    remove: () => rmSync(path, { recursive: true, force: true }),
  }
}
