// The stacks as the deploy path sees them: their files (and profile overlays), the content-hashed names of their
// configs, the secrets and networks they need, and the order to deploy them in. scripts/up, gitops and
// `activity validate` all go through here.
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import bcrypt from 'bcryptjs'
import { parse, stringify } from 'yaml'
import type { ActivityConfig } from '../collectors/runtime/activity-yml.ts'
import { writeAlertmanagerOverlay } from './alertmanager-config.ts'
import { contentHash, renderCollectors } from './collectors-stack.ts'
import { deploySettings, type GivenSettings } from './data-env.ts'

export { contentHash }
export { dockerWithStackConfig, type DockerClient } from './docker-client.ts'

export const stackNames = ['admin', 'metrics', 'logs', 'monitoring', 'app', 'collectors', 'gitops'] as const
export type StackName = (typeof stackNames)[number]

/**
 * The order scripts/up and gitops deploy in: admin first (Traefik, the way in), metrics before the collectors that
 * push to it, logs before the nginx that resolves logs_logstash at start, gitops last (it deploys the others from
 * then on).
 */
export const deployOrder: readonly StackName[] = ['admin', 'metrics', 'logs', 'monitoring', 'app', 'collectors', 'gitops']

/** Stacks whose file is committed in stacks/; collectors is rendered from activity.yml at deploy time. */
export const fileStacks = stackNames.filter((name) => name !== 'collectors')

export function isStackName(name: string): name is StackName {
  return (stackNames as readonly string[]).includes(name)
}

export interface StackOptions {
  /** The repository root, holding stacks/ and dashboards/. Default: the working directory. */
  root?: string
  /** Profiles to merge (stacks/<stack>.<profile>.yml, when that stack has one). Default: ACTIVITY_PROFILES. */
  profiles?: readonly string[]
}

/** ACTIVITY_PROFILES=ha,other -> ['ha', 'other']. */
export function profilesFrom(env: NodeJS.ProcessEnv): string[] {
  return (env.ACTIVITY_PROFILES ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
}

function rootOf(options: StackOptions): string {
  return resolve(options.root ?? process.cwd())
}

/** Every profile some stack has an overlay for (stacks/<stack>.<profile>.yml). */
export function knownProfiles(root: string): string[] {
  const found = new Set<string>()
  for (const file of readdirSync(join(root, 'stacks'))) {
    const match = /^([a-z]+)\.([a-z0-9-]+)\.yml$/.exec(file)
    if (match && isStackName(match[1]!)) found.add(match[2]!)
  }
  return [...found].sort()
}

/**
 * The Compose files of a stack, base first, then one overlay per requested profile that this stack has
 * (`docker stack deploy -c base -c overlay` merges them). Absolute paths.
 */
export function stackFiles(stack: StackName, options: StackOptions = {}): string[] {
  if (stack === 'collectors') throw new Error('the collectors stack is rendered from activity.yml: use renderStack("collectors", ...)')
  const root = rootOf(options)
  const profiles = options.profiles ?? profilesFrom(process.env)
  const files = [join(root, 'stacks', `${stack}.yml`)]
  for (const profile of profiles) {
    const overlay = join(root, 'stacks', `${stack}.${profile}.yml`)
    if (existsSync(overlay)) files.push(overlay)
  }
  return files
}

/** CONFIG_<STACK>_<KEY>: the variable whose value (a content hash) completes the config's name in the stack file. */
export function configHashVariable(stack: StackName, key: string): string {
  return `CONFIG_${stack}_${key}`.toUpperCase().replace(/[^A-Z0-9]/g, '_')
}

export interface StackConfig extends ConfigDeclaration {
  /** First 8 hex digits of the SHA-256 of the content. */
  hash: string
  /** The name Swarm gets: <stack>_<key>_<hash>. */
  name: string
}

type Mapping = Record<string, unknown>

export function isMapping(value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The top-level section (services, configs, secrets, networks, volumes) of a parsed stack file, as a mapping. */
export function section(doc: unknown, name: string): Mapping {
  if (!isMapping(doc)) return {}
  const value = doc[name]
  return isMapping(value) ? value : {}
}

function readStack(file: string): unknown {
  return parse(readFileSync(file, 'utf8'))
}

export interface ConfigDeclaration {
  /** The key under configs: in the stack file. */
  key: string
  /** Absolute path of its content. */
  file: string
  /** The stack file declaring it. */
  declaredIn: string
  /** CONFIG_<STACK>_<KEY>. */
  variable: string
}

/** The file-backed configs a stack's files declare (with the profiles' overlays), files not read. */
export function configDeclarations(stack: StackName, options: StackOptions = {}): ConfigDeclaration[] {
  const declarations: ConfigDeclaration[] = []
  for (const stackFile of stackFiles(stack, options)) {
    for (const [key, declaration] of Object.entries(section(readStack(stackFile), 'configs'))) {
      if (!isMapping(declaration) || typeof declaration.file !== 'string') continue
      declarations.push({ key, file: resolve(dirname(stackFile), declaration.file), declaredIn: stackFile, variable: configHashVariable(stack, key) })
    }
  }
  return declarations
}

/** The file-backed configs of a stack with their content-hashed names; a missing file is an error naming it. */
export function stackConfigs(stack: StackName, options: StackOptions = {}): StackConfig[] {
  return configDeclarations(stack, options).map((declaration) => {
    if (!existsSync(declaration.file)) {
      throw new Error(`${declaration.declaredIn}: configs.${declaration.key}: ${declaration.file} does not exist; restore it or remove the config`)
    }
    const hash = contentHash(declaration.file)
    return { ...declaration, hash, name: `${stack}_${declaration.key}_${hash}` }
  })
}

/**
 * The environment `docker stack deploy` needs for a stack's config names: CONFIG_<STACK>_<KEY>=<hash8> for each
 * config, so a stack file's `name: metrics_prometheus_${CONFIG_METRICS_PROMETHEUS}` becomes a new config whenever
 * prometheus.yml changes (Swarm configs are immutable; a new name is how a changed file reaches the services).
 */
export function stackEnvironment(stack: StackName, options: StackOptions = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const config of stackConfigs(stack, options)) env[config.variable] = config.hash
  return env
}

// ---------------------------------------------------------------------------------------------------------------
// Secrets

export interface GeneratedSecret {
  value: string
  /** What the person running scripts/up must be told once (a login, a value to paste elsewhere); undefined when nothing. */
  note?: string
}

export interface SecretSpec {
  name: string
  description: string
  /** A value for a secret that does not exist yet. */
  generate(env: NodeJS.ProcessEnv): GeneratedSecret
}

function randomPassword(): string {
  return randomBytes(18).toString('base64url')
}

/** One htpasswd line with a bcrypt hash, as `htpasswd -B` writes it. */
export function htpasswdLine(user: string, password: string): string {
  // bcryptjs writes the $2b$ prefix; Traefik's htpasswd reader knows bcrypt as $2y$ (same algorithm).
  return `${user}:${bcrypt.hashSync(password, 10).replace(/^\$2b\$/, '$2y$')}`
}

/** Every secret a stack may declare (external: true). `activity validate` rejects a secret missing here. */
export const secretSpecs: Record<string, SecretSpec> = {
  github_token: {
    name: 'github_token',
    description: 'GitHub token of the github collector (GITHUB_TOKEN_FILE)',
    generate: (env) =>
      env.GITHUB_TOKEN
        ? { value: env.GITHUB_TOKEN }
        : {
            // Swarm refuses an empty secret; a blank one reads as "no token" (the collector trims it).
            value: '\n',
            note: 'github_token is blank: the github collector needs a token. Create one with read-only public access, then: docker secret rm github_token; printf %s "$TOKEN" | docker secret create github_token - (and redeploy collectors)',
          },
  },
  grafana_admin_password: {
    name: 'grafana_admin_password',
    description: "Grafana's admin password (GF_SECURITY_ADMIN_PASSWORD__FILE)",
    generate: () => {
      const password = randomPassword()
      return { value: password, note: `Grafana: user admin, password ${password}` }
    },
  },
  postgres_password: {
    name: 'postgres_password',
    description: "password of Grafana's Postgres database (ha profile)",
    generate: () => ({ value: randomPassword() }),
  },
  gitops_webhook_secret: {
    name: 'gitops_webhook_secret',
    description: 'HMAC key of the gitops webhook; paste it into the git host webhook settings',
    generate: () => {
      const key = randomBytes(32).toString('hex')
      return { value: key, note: `gitops webhook secret (for the git host webhook settings): ${key}` }
    },
  },
  gitops_push_password: {
    name: 'gitops_push_password',
    description: 'password of the git remote gitops serves (git push platform main deploys); any user name',
    generate: () => {
      const password = randomPassword()
      return { value: password, note: `gitops git remote: git remote add platform http://platform:${password}@gitops.<domain>/platform.git` }
    },
  },
  traefik_basic_auth: {
    name: 'traefik_basic_auth',
    description: 'htpasswd users file of the basic auth in front of the admin UIs (Traefik, Prometheus, Alertmanager, Kibana, visualizer, gitops)',
    generate: () => {
      const password = randomPassword()
      return { value: htpasswdLine('admin', password) + '\n', note: `admin UIs (traefik., prometheus., monitoring., alertmanager., kibana., visualizer.): user admin, password ${password}` }
    },
  },
}

/** The external secrets the stack files declare, in file order. */
export function declaredSecrets(files: readonly string[]): string[] {
  const names: string[] = []
  for (const file of files) {
    for (const [key, declaration] of Object.entries(section(readStack(file), 'secrets'))) {
      const name = isMapping(declaration) && typeof declaration.name === 'string' ? declaration.name : key
      if (!names.includes(name)) names.push(name)
    }
  }
  return names
}

/** The secrets a stack needs (with the profiles' overlays), for scripts/up to create when absent. */
export function secretsOf(stack: StackName, options: StackOptions = {}): SecretSpec[] {
  const names = stack === 'collectors' ? ['github_token'] : declaredSecrets(stackFiles(stack, options))
  return names.map((name) => {
    const spec = secretSpecs[name]
    if (!spec) throw new Error(`stacks/${stack}.yml declares secret ${name}, which stacks/stacks.ts cannot generate; add it to secretSpecs`)
    return spec
  })
}

// ---------------------------------------------------------------------------------------------------------------
// Networks

export interface NetworkSpec {
  name: string
  description: string
}

/**
 * The shared overlay networks, one per concern. Every stack declares them external; scripts/up creates the absent
 * ones (`docker network create --driver overlay --attachable NAME`) before the first deploy, so that no stack owns
 * them and any stack can be removed and deployed again on its own.
 */
export const networkSpecs: Record<string, NetworkSpec> = {
  activity_ingress: { name: 'activity_ingress', description: 'Traefik to every UI and the website' },
  activity_metrics: { name: 'activity_metrics', description: 'collectors to the Pushgateway, Prometheus to the Pushgateway, Grafana to Prometheus' },
  activity_logs: { name: 'activity_logs', description: 'nginx to Logstash to Elasticsearch, Grafana and Kibana to Elasticsearch' },
  activity_monitoring: { name: 'activity_monitoring', description: 'the monitoring Prometheus to its targets' },
}

/** The external networks a stack's files use. */
export function declaredNetworks(files: readonly string[]): string[] {
  const names: string[] = []
  for (const file of files) {
    for (const [key, declaration] of Object.entries(section(readStack(file), 'networks'))) {
      if (!isMapping(declaration) || declaration.external !== true) continue
      const name = typeof declaration.name === 'string' ? declaration.name : key
      if (!names.includes(name)) names.push(name)
    }
  }
  return names
}

export function networksOf(stack: StackName, options: StackOptions = {}): NetworkSpec[] {
  const names = stack === 'collectors' ? ['activity_metrics'] : declaredNetworks(stackFiles(stack, options))
  return names.map((name) => {
    const spec = networkSpecs[name]
    if (!spec) throw new Error(`stacks/${stack}.yml uses external network ${name}, which stacks/stacks.ts does not create; add it to networkSpecs`)
    return spec
  })
}

// ---------------------------------------------------------------------------------------------------------------
// Deploying

export interface RenderOptions extends StackOptions {
  /** activity.yml, parsed: the collectors stack is rendered from it, and its settings (DOMAIN, retention, ...) apply. */
  config?: ActivityConfig
  /**
   * What `npm run up` was given (its ACTIVITY_PROFILES and setting variables, recorded for gitops); with a config, the
   * profiles are these and the ones activity.yml turns on. Default: `profiles` and no variables. Never read from this
   * process's environment: up and gitops must render the same stacks from the same inputs.
   */
  given?: GivenSettings
  /** Extra Compose files merged last (the e2e overlays in test/e2e/overlay/). */
  overlays?: readonly string[]
  /** Where a rendered file is written; default a new temporary folder, removed by cleanup(). */
  outDir?: string
  /** Endpoint mode of the rendered collectors' services; 'dnsrr' where there is no IPVS (the Swarm e2e). */
  endpointMode?: 'vip' | 'dnsrr'
  /** Stores the scheduled backup job leaves out because they do not run here (logs, grafana, ...). */
  backupWithout?: readonly string[]
}

export interface DeployPlan {
  stack: StackName
  /** Pass each as -c FILE to `docker stack deploy --prune`, in this order. */
  files: string[]
  /** Variables the Compose files interpolate (config hashes, DOMAIN and the settings); add REGISTRY and ACTIVITY_TAG. */
  env: Record<string, string>
  /** The profiles merged (ha from up, longterm and nodes3 from activity.yml or up). */
  profiles: string[]
  secrets: SecretSpec[]
  networks: NetworkSpec[]
  /** Removes what rendering wrote (a no-op for committed stacks). */
  cleanup(): void
}

/**
 * What the collector jobs read of activity.yml: its sources: and projects: sections alone (projects: names the project
 * label of their series), so that a change to the rest (retention, backup, comments) is no change to their config, as
 * gitops/inputs.ts says.
 */
function sourcesOnly(config: ActivityConfig): string {
  const { sources, projects } = (parse(readFileSync(config.file, 'utf8')) as { sources?: unknown; projects?: unknown } | null) ?? {}
  return stringify(projects === undefined ? { sources } : { sources, projects }, { lineWidth: 0 })
}

/**
 * Everything needed to deploy one stack: `docker stack deploy --prune ${files.map(f => ['-c', f])} <stack>` with
 * `env` added to the environment, after creating `secrets` and `networks` that do not exist yet. scripts/up and gitops
 * both come here (through stacks/deploy/profile.ts resolveForDeploy), so activity.yml's settings reach the same specs.
 */
export function renderStack(stack: StackName, options: RenderOptions = {}): DeployPlan {
  const root = rootOf(options)
  const given = options.given ?? { profiles: options.profiles ?? [], environment: {} }
  const settings = options.config ? deploySettings(options.config, given, knownProfiles(root)) : { environment: {}, profiles: [...given.profiles] }
  const stackOptions: StackOptions = { root, profiles: settings.profiles }
  const overlays = [...(options.overlays ?? [])]
  const common = { stack, profiles: settings.profiles, secrets: secretsOf(stack, stackOptions), networks: networksOf(stack, stackOptions) }
  if (stack === 'monitoring' && options.config) {
    // Alertmanager's config is rendered from activity.yml's alerts: (receivers and their secrets).
    const made = options.outDir ? undefined : mkdtempSync(join(tmpdir(), 'activity-monitoring-'))
    const alerting = writeAlertmanagerOverlay(join(root, 'stacks', 'monitoring', 'alertmanager.yml'), options.config.alerts, options.outDir ?? made!)
    return {
      ...common,
      files: [...stackFiles(stack, stackOptions), alerting.file, ...overlays],
      env: { ...settings.environment, ...stackEnvironment(stack, stackOptions), [configHashVariable('monitoring', 'alertmanager')]: alerting.hash },
      cleanup: () => {
        if (made) rmSync(made, { recursive: true, force: true })
      },
    }
  }
  if (stack !== 'collectors') {
    return {
      ...common,
      files: [...stackFiles(stack, stackOptions), ...overlays],
      env: { ...settings.environment, ...stackEnvironment(stack, stackOptions) },
      cleanup: () => {},
    }
  }
  if (!options.config) throw new Error('the collectors stack is rendered from activity.yml: pass its parsed config')
  const made = options.outDir ? undefined : mkdtempSync(join(tmpdir(), 'activity-collectors-'))
  const dir = options.outDir ?? made!
  const file = join(dir, 'collectors.yml')
  const sources = join(dir, 'activity.yml')
  writeFileSync(sources, sourcesOnly(options.config))
  const backup = { profiles: settings.profiles, without: options.backupWithout ?? [] }
  writeFileSync(file, renderCollectors({ ...options.config, file: sources }, { endpointMode: options.endpointMode, backup }))
  return {
    ...common,
    files: [file, ...overlays],
    env: settings.environment,
    cleanup: () => {
      if (made) rmSync(made, { recursive: true, force: true })
    },
  }
}
