// Stacks as the swarm gets them: merged with overlays, interpolated, trimmed of services left out, hashed; deployed only when changed.
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import { deployOrder } from '../stacks.ts'
import { docker, dockerMaybe, jsonLines } from './docker.ts'
import { StepError } from '../../collectors/runtime/errors.ts'

/** The part of a Compose file the scripts read. */
export interface ComposeService {
  image?: string
  deploy?: {
    mode?: string
    replicas?: number
    labels?: Record<string, string> | string[]
    restart_policy?: { condition?: string }
  }
  ports?: { target?: number; published?: number | string; mode?: string; protocol?: string }[]
  secrets?: (string | { source: string })[]
  configs?: (string | { source: string })[]
  networks?: Record<string, unknown> | string[]
  [key: string]: unknown
}

export interface ComposeFile {
  version?: string
  services?: Record<string, ComposeService>
  networks?: Record<string, { name?: string; external?: boolean } | null>
  volumes?: Record<string, unknown>
  configs?: Record<string, { name?: string; file?: string; external?: boolean }>
  secrets?: Record<string, { name?: string; file?: string; external?: boolean }>
  [key: string]: unknown
}

export interface ResolvedStack {
  name: string
  compose: ComposeFile
  /** The YAML handed to `docker stack deploy`. */
  text: string
  /** Changes exactly when what the swarm would run changes (file contents, not where the checkout lives). */
  hash: string
  /** Service names in the stack file (without the stack prefix). */
  services: string[]
  /** Services of the stack file left out by --without. */
  leftOut: string[]
}

/** `svc` matches that service in any stack; `stack_svc` or `stack/svc` only that one. */
export function isLeftOut(stack: string, service: string, without: string[]): boolean {
  return without.some((w) => w === service || w === `${stack}_${service}` || w === `${stack}/${service}`)
}

function referenced(entries: (string | { source: string })[] | undefined): string[] {
  return (entries ?? []).map((e) => (typeof e === 'string' ? e : e.source))
}

function networkKeys(networks: ComposeService['networks']): string[] {
  if (!networks) return ['default']
  return Array.isArray(networks) ? networks : Object.keys(networks)
}

/** Drops the left-out services, and the configs, secrets and networks only they used. */
export function withoutServices(stack: string, compose: ComposeFile, without: string[]): { compose: ComposeFile; leftOut: string[] } {
  const services = compose.services ?? {}
  const kept = Object.fromEntries(Object.entries(services).filter(([name]) => !isLeftOut(stack, name, without)))
  const leftOut = Object.keys(services).filter((name) => !(name in kept))
  const used = (pick: (s: ComposeService) => string[]) => new Set(Object.values(kept).flatMap(pick))
  const keep = <T>(section: Record<string, T> | undefined, names: Set<string>) =>
    section && Object.fromEntries(Object.entries(section).filter(([name]) => names.has(name)))
  const result: ComposeFile = { ...compose, services: kept }
  if (compose.configs) result.configs = keep(compose.configs, used((s) => referenced(s.configs)))
  if (compose.secrets) result.secrets = keep(compose.secrets, used((s) => referenced(s.secrets)))
  if (compose.networks) result.networks = keep(compose.networks, used((s) => networkKeys(s.networks)))
  return { compose: result, leftOut }
}

function contentHash(file: string): string {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex')
  } catch {
    return `missing:${file}`
  }
}

/** Hash of the stack as deployed: config and secret files count by content, not by their absolute path. */
export function stackHash(compose: ComposeFile): string {
  const portable = structuredClone(compose)
  for (const section of [portable.configs, portable.secrets]) {
    for (const entry of Object.values(section ?? {})) if (entry?.file) entry.file = contentHash(entry.file)
  }
  return createHash('sha256').update(stringify(portable, { sortMapEntries: true })).digest('hex').slice(0, 16)
}

export interface StackInput {
  name: string
  /** The stack file and its overlays, merged in this order. */
  files: string[]
  /** Interpolation variables (REGISTRY, ACTIVITY_TAG, DOMAIN, CONFIG_* hashes, ...). */
  env: Record<string, string>
}

/** The resolved file is read by `docker stack deploy` again, which interpolates once more: every literal `$` doubles. */
function escapeDollars(value: unknown): unknown {
  if (typeof value === 'string') return value.replaceAll('$', '$$$$')
  if (Array.isArray(value)) return value.map(escapeDollars)
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeDollars(v)]))
  return value
}

/** Names a Compose text interpolates (`${NAME}`, `${NAME:-default}`, `$NAME`), not `$$` (a literal dollar). */
export function interpolatedNames(text: string): string[] {
  const names = new Set<string>()
  for (const match of text.matchAll(/(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))/g)) names.add((match[1] ?? match[2])!)
  return [...names]
}

/**
 * The environment of `docker stack config`: this process's (the Docker CLI needs DOCKER_HOST, HOME, PATH), with every
 * variable the files interpolate unset unless the input sets it. A METRICS_RETENTION in the shell of whoever runs
 * this changes nothing: only what the deploy profile and activity.yml say does, so up and gitops resolve alike.
 */
function interpolationEnv(input: StackInput): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {}
  for (const file of input.files) for (const name of interpolatedNames(readFileSync(file, 'utf8'))) env[name] = undefined
  return { ...env, ...input.env }
}

/** Merges and interpolates a stack with the Docker CLI itself (`docker stack config`), then leaves out services. */
export async function resolveStack(input: StackInput, without: string[]): Promise<ResolvedStack> {
  const args = ['stack', 'config', ...input.files.flatMap((file) => ['-c', file])]
  let text: string
  try {
    text = await docker(args, { env: interpolationEnv(input) })
  } catch (error) {
    throw new StepError('stacks', `${input.name}: ${(error as Error).message}`, `check ${input.files.join(' and ')}`)
  }
  const merged = parse(text) as ComposeFile
  const { compose, leftOut } = withoutServices(input.name, merged, without)
  return {
    name: input.name,
    compose,
    text: stringify(escapeDollars(compose)),
    hash: stackHash(compose),
    services: Object.keys(compose.services ?? {}),
    leftOut,
  }
}

const markerPrefix = 'activity_deployed_'
const hashLabel = 'activity.stack.hash'

export async function stackServices(stack: string): Promise<string[]> {
  const text = await docker(['service', 'ls', '--filter', `label=com.docker.stack.namespace=${stack}`, '--format', '{{.Name}}'])
  return text.split('\n').filter(Boolean).sort()
}

/** What the swarm runs now, read once: the hash each stack was last deployed with, and each stack's services. */
export interface DeployedState {
  hashes: Map<string, string>
  services: Map<string, string[]>
}

export async function deployedState(): Promise<DeployedState> {
  const [configs, services] = await Promise.all([
    docker(['config', 'ls', '--filter', `name=${markerPrefix}`, '--format', '{{json .}}']),
    docker(['service', 'ls', '--filter', 'label=com.docker.stack.namespace', '--format', '{{json .}}']),
  ])
  const hashes = new Map<string, string>()
  for (const config of jsonLines<{ Name: string; Labels: string }>(configs)) {
    const hash = new RegExp(`(?:^|,)${hashLabel.replaceAll('.', '\\.')}=([0-9a-f]+)`).exec(config.Labels)?.[1]
    if (config.Name.startsWith(markerPrefix) && hash) hashes.set(config.Name.slice(markerPrefix.length), hash)
  }
  // Stack services are named <stack>_<service>, and no stack of the platform has an underscore in its name.
  const byStack = new Map<string, string[]>()
  for (const name of jsonLines<{ Name: string }>(services).map((s) => s.Name).sort()) {
    const stack = name.slice(0, name.indexOf('_'))
    byStack.set(stack, [...(byStack.get(stack) ?? []), name])
  }
  return { hashes, services: byStack }
}

/** Unchanged when the deployed hash matches and every service of the stack file exists (none removed by hand). */
export function isUnchanged(stack: ResolvedStack, state: DeployedState): boolean {
  if (state.hashes.get(stack.name) !== stack.hash) return false
  const expected = stack.services.map((s) => `${stack.name}_${s}`).sort()
  return JSON.stringify(state.services.get(stack.name) ?? []) === JSON.stringify(expected)
}

let detachFlag: string[] | undefined

/**
 * Deploys one stack (removing services no longer in it) and records its hash. `withRegistryAuth`: the services get this
 * CLI's login to the registry of their images, so every node can pull them (up with REGISTRY; gitops has no login).
 */
export async function deployStack(stack: ResolvedStack, workDir: string, options: { withRegistryAuth?: boolean } = {}): Promise<void> {
  detachFlag ??= (await docker(['stack', 'deploy', '--help'])).includes('--detach') ? ['--detach=true'] : []
  const file = join(workDir, `${stack.name}.yml`)
  writeFileSync(file, stack.text)
  // Never resolved to digests: without REGISTRY the project's images exist on the engines only, and their tags are a
  // hash of their sources anyway.
  const auth = options.withRegistryAuth ? ['--with-registry-auth'] : []
  await docker(['stack', 'deploy', '--prune', '--resolve-image', 'never', ...auth, ...detachFlag, '-c', file, stack.name])
  await dockerMaybe(['config', 'rm', markerPrefix + stack.name])
  await docker(['config', 'create', '--label', `${hashLabel}=${stack.hash}`, '--label', 'activity.platform=true', markerPrefix + stack.name, '-'], {
    input: stack.text,
  })
}

/**
 * Forgets the hash a stack was deployed with: the swarm does not run it (Swarm rolled its update back, or paused it),
 * so the next deployment of the same stack file deploys it again instead of taking it for unchanged.
 */
export async function forgetDeployed(stack: string): Promise<void> {
  await dockerMaybe(['config', 'rm', markerPrefix + stack])
}

/** Removes a stack and its deploy record; the named volumes stay unless the caller removes them. */
export async function removeStack(stack: string): Promise<void> {
  await docker(['stack', 'rm', stack])
  await dockerMaybe(['config', 'rm', markerPrefix + stack])
}

export async function deployedStacks(): Promise<string[]> {
  const stacks = jsonLines<{ Name: string }>(await docker(['stack', 'ls', '--format', '{{json .}}'])).map((s) => s.Name)
  return stacks.filter((s) => (deployOrder as readonly string[]).includes(s))
}

/** External networks and secrets the services of a stack need from outside it. */
export function externalNeeds(stack: ResolvedStack): { networks: string[]; secrets: string[] } {
  const networks = Object.entries(stack.compose.networks ?? {})
    .filter(([, n]) => n?.external)
    .map(([key, n]) => n?.name ?? key)
  const secrets = Object.entries(stack.compose.secrets ?? {})
    .filter(([, s]) => s?.external)
    .map(([key, s]) => s?.name ?? key)
  return { networks, secrets }
}
