// What the Swarm e2e and the up benchmark share: a prepared engine (swarm, stand-ins, test APIs), the scripts run as a
// person runs them (npm run up|down|status), the services left out and why, and queries from the host.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import { loadConfig } from '../../collectors/runtime/activity-yml.ts'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import { docker, dockerMaybe, engineInfo, jsonLines } from '../../stacks/deploy/docker.ts'
import { ensureSwarm } from '../../stacks/deploy/swarm.ts'
import { requireBinary, waitFor } from '../support/servers.ts'
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

/** The engine answers; the swarm is active; base image, stand-ins and the test APIs are there; the overlays are written. */
export async function prepare(log: (line: string) => void): Promise<Prepared> {
  requireBinary('docker', 'docker.io')
  const info = await engineInfo()
  if (!info) throw new Error('no Docker Engine answers: start it (bash test/e2e/ci-setup.sh starts dockerd in the background)')
  log(`swarm: ${await ensureSwarm(info, '127.0.0.1')}`)
  const base = spawnSync('bash', [join(root, 'test/e2e/base-image.sh')], { encoding: 'utf8' })
  if (base.status !== 0) throw new Error(`test/e2e/base-image.sh failed: ${base.stdout}${base.stderr}`)
  log(base.stdout.trim())
  await buildStandIns(log)
  await removeTestApis()
  await startTestApis()
  const config = loadConfig(configFile, await loadCollectors(new URL('../../collectors/', import.meta.url)))
  const sources = config.sources.map((s) => s.name)
  const extra = mkdtempSync(join(tmpdir(), 'activity-e2e-overlay-'))
  collectorsOverlay(extra, sources)
  const home = mkdtempSync(join(tmpdir(), 'activity-e2e-home-'))
  return {
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
  await removeTestApis()
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

/** A prepared engine with nothing of the platform on it (what a run that died before its clean-up left is removed). */
export async function cleanPlatform(log: (line: string) => void): Promise<Prepared> {
  const prepared = await prepare(log)
  const down = await npmRun('down', ['--volumes'], prepared.env)
  if (down.code !== 0) throw new Error(`npm run down -- --volumes failed: ${down.output}`)
  return prepared
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
