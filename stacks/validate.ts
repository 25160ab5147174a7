// `activity validate`: everything a deploy would trip over, found before it. Stack files (YAML, `docker stack config`,
// pinned images, declared configs and secrets, published ports), Prometheus configs and rules (promtool), nginx.conf
// (nginx -t), Grafana provisioning and dashboards. Each problem is one line naming its file.
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import { LineCounter, parse, parseDocument, type Document } from 'yaml'
import { loadConfig } from '../collectors/runtime/activity-yml.ts'
import type { AnyCollector } from '../collectors/runtime/define.ts'
import { ConfigError, UsageError, oneLine } from '../collectors/runtime/errors.ts'
import { loadCollectors } from '../collectors/runtime/registry.ts'
import { renderCollectors } from './collectors-stack.ts'
import {
  configDeclarations,
  configHashVariable,
  contentHash,
  dockerWithStackConfig,
  fileStacks,
  isMapping,
  knownProfiles,
  networkSpecs,
  secretSpecs,
  section,
  stackFiles,
  type DockerClient,
  type StackName,
} from './stacks.ts'

export interface Problem {
  /** Relative to the repository root. */
  file: string
  line?: number
  message: string
}

export function formatProblem(problem: Problem): string {
  return `${problem.file}${problem.line ? `:${problem.line}` : ''}: ${problem.message}`
}

/**
 * Images that may go without a version tag, and why. Everything else names a version (or a digest): a redeploy must
 * never change what runs.
 */
export const unpinnedImageExemptions: Record<string, string> = {
  'dockersamples/visualizer:stable': 'the Swarm visualizer publishes no version tags; :stable is the only one',
}

/** The only ports published on the nodes, by <stack>/<service>. Everything else is reached through Traefik. */
export const publishedPortsAllowed: Record<string, number[]> = {
  'admin/traefik': [80, 443],
  // Image pushes from the manager (127.0.0.1:5000, no TLS needed) and pulls by the Swarm.
  'admin/registry': [5000],
}

const secretLikeVariable = /(PASSWORD|PASSWD|TOKEN|SECRET|API_KEY|PRIVATE_KEY)/i

/** Why an image reference is not pinned, or undefined when it is. */
export function imageProblem(image: string): string | undefined {
  if (image.includes('@sha256:')) return undefined
  if (unpinnedImageExemptions[image]) return undefined
  const lastSlash = image.lastIndexOf('/')
  const colon = image.indexOf(':', lastSlash + 1)
  if (colon < 0) return `image ${image} has no tag: pin a version, e.g. ${image}:1.2.3`
  const tag = image.slice(colon + 1)
  if (tag === 'latest') return `image ${image} uses :latest: pin a version`
  if (!/\d/.test(tag)) return `image ${image} has the floating tag :${tag}: pin a version (or add an exemption with its reason in stacks/validate.ts)`
  return undefined
}

export class InterpolationError extends Error {}

/** Compose-style ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}, $VAR and $$. */
export function interpolate(text: string, env: Record<string, string | undefined>): string {
  return text.replace(/\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (match, braced, op, arg, bare) => {
    if (match === '$$') return '$'
    const name = (braced ?? bare) as string
    const value = env[name]
    const unset = value === undefined
    const empty = unset || value === ''
    switch (op as string | undefined) {
      case ':-':
        return empty ? (arg as string) : value!
      case '-':
        return unset ? (arg as string) : value!
      case ':?':
        if (empty) throw new InterpolationError(`${name} is required: ${arg}`)
        return value!
      case '?':
        if (unset) throw new InterpolationError(`${name} is required: ${arg}`)
        return value!
      default:
        return value ?? ''
    }
  })
}

// ---------------------------------------------------------------------------------------------------------------

interface ParsedFile {
  /** Absolute path. */
  path: string
  /** Relative to the root, for messages. */
  name: string
  doc: Document
  lines: LineCounter
  data: unknown
}

interface Tools {
  docker: DockerClient
  promtool?: string
  nginx?: string
}

export interface ValidateOptions {
  /** The repository root (stacks/, dashboards/, activity.yml). */
  root: string
  env?: NodeJS.ProcessEnv
  /** The collectors, to render the collectors stack from activity.yml; default: imported from <root>/collectors. */
  collectors?: Map<string, AnyCollector>
  /** Default: dockerWithStackConfig(env). */
  docker?: DockerClient
}

export interface ValidateReport {
  problems: Problem[]
  /** What was checked, for the summary line. */
  checked: string[]
}

function findProgram(program: string, env: NodeJS.ProcessEnv): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8', env }).stdout.trim()
  return found || undefined
}

function lineOf(file: ParsedFile, path: (string | number)[]): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth ? file.doc.getIn(path.slice(0, depth), true) : file.doc.contents
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range
    if (range) return file.lines.linePos(range[0]).line
  }
  return undefined
}

function listOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : []
}

/** The source names of a service's configs: or secrets: list (short or long syntax). */
function referenced(value: unknown): string[] {
  return listOf(value)
    .map((entry) => (typeof entry === 'string' ? entry : isMapping(entry) && typeof entry.source === 'string' ? entry.source : undefined))
    .filter((name): name is string => name !== undefined)
}

function environmentOf(value: unknown): [string, string][] {
  if (isMapping(value)) return Object.entries(value).map(([k, v]) => [k, v === null || v === undefined ? '' : String(v)])
  return listOf(value)
    .filter((entry): entry is string => typeof entry === 'string')
    .map((entry) => {
      const at = entry.indexOf('=')
      return at < 0 ? [entry, ''] : [entry.slice(0, at), entry.slice(at + 1)]
    })
}

/** Published host ports of a service's ports: list (short or long syntax), after interpolation. */
function publishedPorts(value: unknown, env: Record<string, string | undefined>): string[] {
  const published: string[] = []
  for (const entry of listOf(value)) {
    if (isMapping(entry)) {
      if (entry.published !== undefined) published.push(interpolate(String(entry.published), env))
      else published.push(`(any) -> ${String(entry.target)}`)
    } else if (typeof entry === 'string' || typeof entry === 'number') {
      const parts = interpolate(String(entry), env).replace(/\/(tcp|udp|sctp)$/, '').split(':')
      // "80" publishes on a random host port; "8080:80" and "127.0.0.1:8080:80" on 8080.
      published.push(parts.length === 1 ? `(any) -> ${parts[0]}` : parts[parts.length - 2]!)
    }
  }
  return published
}

interface Ran {
  status: number | null
  stdout: string
  stderr: string
  error?: Error
}

/** Runs a program to its end, collecting its output (the checks run side by side: docker, promtool and nginx each take a moment). */
function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000)
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('error', (error) => {
      clearTimeout(timer)
      resolve({ status: null, stdout, stderr, error })
    })
    child.on('close', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })
}

/** Answers of the programs, by the digest of their inputs (see Validation.later). */
const answers = new Map<string, Promise<Problem[]>>()

class Validation {
  /** Problems in the order the checks were started, whether they came at once or from a program still running. */
  private readonly slots: (Problem[] | Promise<Problem[]>)[] = []
  readonly checked: string[] = []
  private readonly temp: string[] = []

  constructor(
    readonly root: string,
    readonly env: NodeJS.ProcessEnv,
    readonly tools: Tools,
  ) {}

  rel(path: string): string {
    return relative(this.root, path) || path
  }

  problem(file: string, message: string, line?: number): Problem {
    return { file: this.rel(resolve(this.root, file)), line, message }
  }

  report(file: string, message: string, line?: number): void {
    this.slots.push([this.problem(file, message, line)])
  }

  /**
   * A check whose problems come later (a program runs); they keep their place in the report. The answer is kept
   * for the same inputs (file paths and contents, arguments), so validating commit after commit, or copy after copy,
   * runs each program only on what changed.
   */
  later(inputs: (string | { file: string })[], check: () => Promise<Problem[]>): void {
    // Paths count relative to the root: a copy of the repository is the same input.
    const key = createHash('sha256')
    for (const input of inputs) {
      if (typeof input === 'string') key.update(`\0${input}`)
      else key.update(`\0${this.rel(input.file)}\0`).update(existsSync(input.file) ? readFileSync(input.file) : 'missing')
    }
    const digest = key.digest('hex')
    let answer = answers.get(digest)
    if (!answer) {
      answer = check()
      answers.set(digest, answer)
      if (answers.size > 1000) answers.delete(answers.keys().next().value!)
    }
    this.slots.push(answer.then((problems) => problems.map((p) => ({ ...p }))))
  }

  async problems(): Promise<Problem[]> {
    return (await Promise.all(this.slots)).flat()
  }

  tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), `activity-validate-${prefix}-`))
    this.temp.push(dir)
    return dir
  }

  cleanup(): void {
    for (const dir of this.temp) rmSync(dir, { recursive: true, force: true })
  }

  /** The environment a deploy would interpolate the stack with (a missing config file, reported apart, gets a stand-in hash). */
  deployEnv(stack: StackName, profiles: string[]): Record<string, string | undefined> {
    const hashes: Record<string, string> = {}
    for (const config of configDeclarations(stack, { root: this.root, profiles })) {
      hashes[config.variable] = existsSync(config.file) && statSync(config.file).isFile() ? contentHash(config.file) : 'missing0'
    }
    return { ...this.env, ACTIVITY_TAG: this.env.ACTIVITY_TAG || '0.0.0-validate', ...hashes }
  }

  parseYaml(path: string): ParsedFile | undefined {
    const lines = new LineCounter()
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (error) {
      this.report(path, `cannot be read (${(error as NodeJS.ErrnoException).code})`)
      return undefined
    }
    const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true })
    if (doc.errors.length) {
      const first = doc.errors[0]!
      this.report(path, `YAML: ${first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`, first.linePos?.[0]?.line)
      return undefined
    }
    return { path, name: this.rel(path), doc, lines, data: doc.toJS() }
  }

  // -- stack files ------------------------------------------------------------------------------------------------

  stack(stack: StackName, profiles: string[]): void {
    const base = stackFiles(stack, { root: this.root, profiles: [] })[0]!
    const overlays = profiles
      .map((profile) => ({ profile, files: stackFiles(stack, { root: this.root, profiles: [profile] }) }))
      .filter((p) => p.files.length > 1)
      .map((p) => ({ profile: p.profile, path: p.files[1]! }))
    const parsedBase = this.parseYaml(base)
    const parsedOverlays = overlays.map((o) => ({ ...o, parsed: this.parseYaml(o.path) }))
    if (!parsedBase || parsedOverlays.some((o) => !o.parsed)) return
    if (!isMapping(parsedBase.data) || !isMapping(parsedBase.data.services)) {
      this.report(base, 'services: is missing: a stack file lists its services under services:')
      return
    }
    this.checkStackFile(stack, parsedBase, undefined, [])
    for (const overlay of parsedOverlays) this.checkStackFile(stack, overlay.parsed!, parsedBase, [overlay.profile])

    this.dockerStackConfig(stack, [base], [])
    for (const overlay of overlays) this.dockerStackConfig(stack, [base, overlay.path], [overlay.profile])
    this.checked.push(`stacks/${stack}.yml${overlays.length ? ` (+${overlays.map((o) => o.profile).join(', ')})` : ''}`)
  }

  checkStackFile(stack: StackName, file: ParsedFile, base: ParsedFile | undefined, profiles: string[]): void {
    let env: Record<string, string | undefined>
    try {
      env = this.deployEnv(stack, profiles)
    } catch (error) {
      this.report(file.path, oneLine(error))
      return
    }
    const declaredConfigs = new Set([...Object.keys(section(base?.data, 'configs')), ...Object.keys(section(file.data, 'configs'))])
    const declaredSecrets = new Set([...Object.keys(section(base?.data, 'secrets')), ...Object.keys(section(file.data, 'secrets'))])
    const baseServices = section(base?.data, 'services')

    for (const [name, service] of Object.entries(section(file.data, 'services'))) {
      if (!isMapping(service)) {
        this.report(file.path, `services.${name}: must be a mapping`, lineOf(file, ['services', name]))
        continue
      }
      const at = (...path: (string | number)[]) => lineOf(file, ['services', name, ...path])
      if (typeof service.image === 'string') {
        try {
          const problem = imageProblem(interpolate(service.image, env))
          if (problem) this.report(file.path, `services.${name}: ${problem}`, at('image'))
        } catch (error) {
          this.report(file.path, `services.${name}.image: ${oneLine(error)}`, at('image'))
        }
      } else if (!(name in baseServices)) {
        this.report(file.path, `services.${name}: has no image`, at())
      }
      referenced(service.configs).forEach((source, index) => {
        if (!declaredConfigs.has(source)) this.report(file.path, `services.${name}.configs: '${source}' is not declared under configs:`, at('configs', index))
      })
      referenced(service.secrets).forEach((source, index) => {
        if (!declaredSecrets.has(source)) this.report(file.path, `services.${name}.secrets: '${source}' is not declared under secrets:`, at('secrets', index))
      })
      environmentOf(service.environment).forEach(([variable, value], index) => {
        if (secretLikeVariable.test(variable) && !/_FILE$/.test(variable) && value !== '') {
          const line = isMapping(service.environment) ? at('environment', variable) : at('environment', index)
          this.report(file.path, `services.${name}.environment.${variable}: looks like a secret in plain text; mount a Swarm secret and pass ${variable.replace(/_+$/, '')}_FILE instead`, line)
        }
      })
      const allowed = publishedPortsAllowed[`${stack}/${name}`] ?? []
      listOf(service.ports).forEach((entry, index) => {
        let published: string[] = []
        try {
          published = publishedPorts([entry], env)
        } catch (error) {
          this.report(file.path, `services.${name}.ports: ${oneLine(error)}`, at('ports', index))
        }
        for (const port of published) {
          if (!allowed.includes(Number(port))) {
            this.report(file.path, `services.${name}.ports: publishes ${port}; only Traefik (80, 443) and the registry (5000) publish ports, route it through Traefik instead`, at('ports', index))
          }
        }
      })
    }

    for (const [key, declaration] of Object.entries(section(file.data, 'configs'))) {
      const at = lineOf(file, ['configs', key])
      if (!isMapping(declaration)) {
        this.report(file.path, `configs.${key}: must be a mapping with name: and file:`, at)
        continue
      }
      if (declaration.external === true) continue
      if (typeof declaration.file !== 'string') {
        this.report(file.path, `configs.${key}: has no file:`, at)
        continue
      }
      const content = resolve(dirname(file.path), declaration.file)
      if (!existsSync(content) || !statSync(content).isFile()) {
        this.report(file.path, `configs.${key}: file ${declaration.file} does not exist (${this.rel(content)})`, lineOf(file, ['configs', key, 'file']))
      }
      const variable = configHashVariable(stack, key)
      const expected = new RegExp(`^${stack}_${key}_\\$\\{${variable}(:\\?[^}]*)?\\}$`)
      if (typeof declaration.name !== 'string' || !expected.test(declaration.name)) {
        this.report(
          file.path,
          `configs.${key}: name must be ${stack}_${key}_\${${variable}:?...} (content-hashed, so that a changed file becomes a new config)`,
          lineOf(file, ['configs', key, 'name']),
        )
      }
    }

    for (const [key, declaration] of Object.entries(section(file.data, 'secrets'))) {
      const at = lineOf(file, ['secrets', key])
      if (!isMapping(declaration) || declaration.external !== true) {
        this.report(file.path, `secrets.${key}: declare it external: true; secrets are created by scripts/up, never files in the repository`, at)
        continue
      }
      const name = typeof declaration.name === 'string' ? declaration.name : key
      if (!secretSpecs[name]) this.report(file.path, `secrets.${key}: unknown secret ${name}; add it to secretSpecs in stacks/stacks.ts so scripts/up can create it`, at)
    }

    for (const [key, declaration] of Object.entries(section(file.data, 'networks'))) {
      if (!isMapping(declaration) || declaration.external !== true) continue
      const name = typeof declaration.name === 'string' ? declaration.name : key
      if (!networkSpecs[name]) {
        this.report(file.path, `networks.${key}: unknown external network ${name}; add it to networkSpecs in stacks/stacks.ts so scripts/up creates it`, lineOf(file, ['networks', key]))
      }
    }
  }

  dockerStackConfig(stack: StackName, files: string[], profiles: string[]): void {
    const docker = this.tools.docker
    if ('problem' in docker) return
    let env: Record<string, string | undefined>
    try {
      env = this.deployEnv(stack, profiles)
    } catch {
      return // reported by checkStackFile
    }
    this.runDockerStackConfig(docker.path, files, env, files[files.length - 1]!)
  }

  runDockerStackConfig(docker: string, files: string[], env: Record<string, string | undefined>, blame: string, prefix = ''): void {
    const environment = JSON.stringify(Object.entries(env).sort(([a], [b]) => a.localeCompare(b)))
    this.later(['docker stack config', docker, environment, this.rel(blame), prefix, ...files.map((file) => ({ file }))], async () => {
      const result = await run(docker, ['stack', 'config', ...files.flatMap((f) => ['-c', f])], { env: env as NodeJS.ProcessEnv, timeoutMs: 60_000 })
      if (result.status === 0) return []
      if (files.length > 1) {
        // A problem of the base file is reported once, with the base file, not again with each of its overlays.
        const base = await run(docker, ['stack', 'config', '-c', files[0]!], { env: env as NodeJS.ProcessEnv, timeoutMs: 60_000 })
        if (base.status !== 0) return []
      }
      const reason = oneLine(result.stderr || result.error?.message || `exit ${result.status}`).replace(/; you may need to escape any \$ with another \$$/, '')
      const merged = files.length > 1 ? ` (with ${files.slice(0, -1).map((f) => this.rel(f)).join(', ')})` : ''
      return [this.problem(blame, `${prefix}docker stack config${merged}: ${reason}`)]
    })
  }

  // -- the collectors stack -----------------------------------------------------------------------------------------

  async collectorsStack(collectors: Map<string, AnyCollector> | undefined): Promise<void> {
    const activityFile = join(this.root, 'activity.yml')
    if (!existsSync(activityFile)) {
      this.report(activityFile, 'not found: the collectors stack is rendered from it')
      return
    }
    let text: string
    try {
      const loaded = collectors ?? (await loadCollectors(pathToFileURL(join(this.root, 'collectors') + '/')))
      text = renderCollectors(loadConfig(activityFile, loaded), { backup: { profiles: [], without: [] } })
    } catch (error) {
      if (error instanceof ConfigError) this.report(error.file, `${error.field}: ${error.problem}${error.fix ? `; ${error.fix}` : ''}`, error.line)
      else this.report(activityFile, `cannot render the collectors stack: ${oneLine(error)}`)
      return
    }
    const dir = this.tempDir('collectors')
    const rendered = join(dir, 'collectors.yml')
    writeFileSync(rendered, text)
    const docker = this.tools.docker
    if (!('problem' in docker)) {
      const env = { ...this.env, ACTIVITY_TAG: this.env.ACTIVITY_TAG || '0.0.0-validate' }
      this.runDockerStackConfig(docker.path, [rendered], env, activityFile, 'the collectors stack rendered from it: ')
    }
    this.checked.push('collectors (rendered from activity.yml)')
  }

  // -- config files, by the program that reads them ------------------------------------------------------------------

  configFiles(): void {
    const seen = new Set<string>()
    const prometheusConfigs: string[] = []
    const ruleFiles: string[] = []
    const nginxConfigs: string[] = []
    const grafana = { datasources: [] as string[], providers: [] as string[], dashboards: [] as { file: string; target: string }[] }

    for (const stack of fileStacks) {
      const files = stackFiles(stack, { root: this.root, profiles: knownProfiles(this.root) })
      const declared = new Map<string, string>()
      const services: Mapping[] = []
      for (const path of files) {
        let data: unknown
        try {
          data = parse(readFileSync(path, 'utf8'))
        } catch {
          continue // reported with the stack
        }
        for (const [key, declaration] of Object.entries(section(data, 'configs'))) {
          if (isMapping(declaration) && typeof declaration.file === 'string') declared.set(key, resolve(dirname(path), declaration.file))
        }
        for (const service of Object.values(section(data, 'services'))) if (isMapping(service)) services.push(service)
      }
      for (const service of services) {
        const image = typeof service.image === 'string' ? service.image : ''
        for (const entry of listOf(service.configs)) {
          const source = typeof entry === 'string' ? entry : isMapping(entry) ? entry.source : undefined
          const target = isMapping(entry) && typeof entry.target === 'string' ? entry.target : `/${String(source)}`
          const file = typeof source === 'string' ? declared.get(source) : undefined
          if (!file || !existsSync(file)) continue // reported with the stack
          if (image.startsWith('prom/prometheus:')) {
            if (target.endsWith('/prometheus.yml')) prometheusConfigs.push(file)
            else if (/\.ya?ml$/.test(target)) ruleFiles.push(file)
          } else if (image.startsWith('nginx:') && target === '/etc/nginx/nginx.conf') {
            nginxConfigs.push(file)
          } else if (image.startsWith('grafana/grafana:')) {
            if (target.includes('/provisioning/datasources/')) grafana.datasources.push(file)
            else if (target.includes('/provisioning/dashboards/')) grafana.providers.push(file)
            else if (target.endsWith('.json')) grafana.dashboards.push({ file, target })
          }
          if (!seen.has(file)) {
            seen.add(file)
            this.parses(file)
          }
        }
      }
    }

    this.prometheus(unique(prometheusConfigs), unique(ruleFiles))
    for (const file of unique(nginxConfigs)) this.nginx(file)
    this.grafana(grafana)
  }

  /** Every .json config is JSON and every .yml one YAML, whichever program reads it. */
  parses(file: string): void {
    const text = readFileSync(file, 'utf8')
    if (file.endsWith('.json')) {
      try {
        JSON.parse(text)
      } catch (error) {
        this.report(file, `JSON: ${(error as Error).message}`)
      }
    } else if (/\.ya?ml$/.test(file)) {
      this.parseYaml(file)
    }
  }

  prometheus(configs: string[], rules: string[]): void {
    if (!configs.length && !rules.length) return
    const promtool = this.tools.promtool
    if (!promtool) {
      this.report(configs[0] ?? rules[0]!, 'not checked: promtool is not installed (apt-get install prometheus)')
      return
    }
    const promtoolRun = (args: string[]) => run(promtool, args, { cwd: this.root })
    for (const file of configs) {
      // Syntax only: the rule files it names are checked on their own below, with one line per problem.
      this.later(['promtool check config', promtool, { file }], async () => {
        const result = await promtoolRun(['check', 'config', '--syntax-only', this.rel(file)])
        return result.status === 0 ? [] : [this.problem(file, `promtool check config: ${promtoolReason(result.stdout + result.stderr + (result.error?.message ?? ''))}`)]
      })
      const data = parseQuietly(file)
      for (const ruleFile of listOf(isMapping(data) ? data.rule_files : undefined)) {
        if (typeof ruleFile === 'string' && !ruleFile.includes('*') && !existsSync(resolve(dirname(file), ruleFile))) {
          this.report(file, `rule_files: ${ruleFile} does not exist beside it (the stack mounts rules next to prometheus.yml)`)
        }
      }
    }
    for (const file of rules) {
      const tests = file.replace(/\.ya?ml$/, '.test.yml')
      if (!existsSync(tests)) this.report(file, `has no unit tests: add ${basename(tests)} beside it (promtool test rules) with a firing and a silent case per alert`)
      this.later(['promtool check and test rules', promtool, { file }, { file: tests }], async () => {
        const result = await promtoolRun(['check', 'rules', this.rel(file)])
        if (result.status !== 0) return [this.problem(file, `promtool check rules: ${promtoolReason(result.stdout + result.stderr + (result.error?.message ?? ''))}`)]
        if (!existsSync(tests)) return []
        const tested = await promtoolRun(['test', 'rules', this.rel(tests)])
        return tested.status === 0 ? [] : promtoolTestFailures(tested.stdout + tested.stderr).map((failure) => this.problem(tests, `promtool test rules: ${failure}`))
      })
    }
    this.checked.push(`${configs.length} Prometheus configs, ${rules.length} rule file${rules.length === 1 ? '' : 's'} with unit tests`)
  }

  nginx(file: string): void {
    const nginx = this.tools.nginx
    if (!nginx) {
      this.report(file, 'not checked: nginx is not installed (apt-get install nginx)')
      return
    }
    // A copy of the config's folder, so relative includes resolve; syslog servers are service names that resolve only
    // inside the Swarm, so nginx -t gets the loopback address instead (the port is kept).
    const dir = this.tempDir('nginx')
    cpSync(dirname(file), dir, { recursive: true })
    const copy = join(dir, basename(file))
    const text = readFileSync(file, 'utf8').replace(/(syslog:server=)(?!\d+\.\d+\.\d+\.\d+|\[)([A-Za-z0-9_.-]+)/g, '$1127.0.0.1')
    writeFileSync(copy, text)
    this.later(['nginx -t', nginx, this.rel(file), ...filesUnder(dirname(file)).map((input) => ({ file: input }))], async () => {
      const result = await run(nginx, ['-t', '-q', '-p', dir + '/', '-c', copy, '-e', join(dir, 'error.log')], { timeoutMs: 60_000 })
      if (result.status === 0) return []
      const output = (result.stderr + result.stdout).split('\n').filter((line) => /\[(emerg|alert|crit|error)\]/.test(line))
      const first = output[0] ?? oneLine(result.stderr || result.error?.message || `exit ${result.status}`)
      const located = /^nginx: \[\w+\] (.*?)(?: in (\S+):(\d+))?$/.exec(first)
      const where = located?.[2] && located[2].startsWith(dir) ? resolve(dirname(file), relative(dir, located[2])) : file
      return [this.problem(where, `nginx -t: ${located?.[1] ?? first}`, located?.[3] ? Number(located[3]) : undefined)]
    })
    this.checked.push(this.rel(file))
  }

  grafana(files: { datasources: string[]; providers: string[]; dashboards: { file: string; target: string }[] }): void {
    const datasources = new Map<string, { type: string; name: string }>()
    for (const file of unique(files.datasources)) {
      const data: unknown = parseQuietly(file)
      if (!isMapping(data)) continue
      if (data.apiVersion !== 1) this.report(file, 'apiVersion: must be 1')
      listOf(data.datasources).forEach((entry, index) => {
        if (!isMapping(entry)) return this.report(file, `datasources[${index}]: must be a mapping`)
        const label = `datasources[${index}]${typeof entry.name === 'string' ? ` (${entry.name})` : ''}`
        for (const field of ['name', 'type', 'uid', 'url']) {
          if (typeof entry[field] !== 'string' || !entry[field]) this.report(file, `${label}: ${field} is missing${field === 'uid' ? '; dashboards refer to datasources by uid' : ''}`)
        }
        if (typeof entry.uid === 'string') {
          if (datasources.has(entry.uid)) this.report(file, `${label}: uid ${entry.uid} is used twice`)
          datasources.set(entry.uid, { type: String(entry.type), name: String(entry.name) })
        }
      })
    }

    const providerPaths: string[] = []
    for (const file of unique(files.providers)) {
      const data: unknown = parseQuietly(file)
      if (!isMapping(data)) continue
      listOf(data.providers).forEach((entry, index) => {
        const path = isMapping(entry) && isMapping(entry.options) ? entry.options.path : undefined
        if (typeof path !== 'string') this.report(file, `providers[${index}]: options.path is missing`)
        else providerPaths.push(path.replace(/\/+$/, ''))
      })
    }

    const mounted = new Set<string>()
    const uids = new Map<string, string>()
    for (const { file, target } of files.dashboards) {
      mounted.add(file)
      if (providerPaths.length && !providerPaths.some((path) => target.startsWith(path + '/'))) {
        this.report(file, `mounted at ${target}, outside every dashboard provider path (${providerPaths.join(', ')}): Grafana would not load it`)
      }
      this.dashboard(file, datasources, uids)
    }
    const dashboardsDir = join(this.root, 'dashboards')
    for (const file of existsSync(dashboardsDir) ? jsonFilesUnder(dashboardsDir) : []) {
      if (mounted.has(file)) continue
      this.report(file, 'is not provisioned: add it to the configs of the grafana service in stacks/admin.yml')
      this.dashboard(file, datasources, uids)
    }
    this.checked.push(`${datasources.size} Grafana datasources, ${mounted.size} dashboards`)
  }

  dashboard(file: string, datasources: Map<string, { type: string; name: string }>, uids: Map<string, string>): void {
    let data: unknown
    try {
      data = JSON.parse(readFileSync(file, 'utf8'))
    } catch (error) {
      this.report(file, `JSON: ${(error as Error).message}`)
      return
    }
    if (!isMapping(data)) return this.report(file, 'must be a dashboard object')
    if (typeof data.title !== 'string' || !data.title) this.report(file, 'title is missing')
    if (typeof data.uid === 'string') {
      const other = uids.get(data.uid)
      if (other) this.report(file, `uid ${data.uid} is also the uid of ${this.rel(other)}; Grafana keeps only one`)
      uids.set(data.uid, file)
    }
    if ('__inputs' in data) this.report(file, '__inputs: an export for sharing; provisioned dashboards refer to datasources by uid (prometheus, monitoring, elasticsearch)')
    const templating = isMapping(data.templating) ? listOf(data.templating.list) : []
    const variables = new Set(templating.filter(isMapping).filter((v) => v.type === 'datasource').map((v) => String(v.name)))
    const builtins = new Set(['grafana', '-- Grafana --', '-- Mixed --', '-- Dashboard --', 'dashboard'])
    const known = [...datasources.keys()].join(', ')
    const check = (reference: unknown, where: string) => {
      if (reference === null || reference === undefined) return
      const uid = typeof reference === 'string' ? reference : isMapping(reference) ? reference.uid : undefined
      const type = isMapping(reference) ? reference.type : undefined
      if (uid === undefined || uid === null) return
      if (typeof uid !== 'string') return this.report(file, `${where}: datasource uid must be a string`)
      if (uid.startsWith('$')) {
        const name = uid.replace(/^\$\{?/, '').replace(/\}$/, '')
        if (!variables.has(name)) this.report(file, `${where}: datasource ${uid} names no datasource variable of this dashboard`)
        return
      }
      if (builtins.has(uid)) return
      const byName = [...datasources.entries()].find(([, ds]) => ds.name === uid)
      const datasource = datasources.get(uid) ?? byName?.[1]
      if (!datasource) return this.report(file, `${where}: datasource uid ${uid} is not provisioned (known: ${known})`)
      if (typeof type === 'string' && type !== datasource.type) this.report(file, `${where}: datasource ${uid} is of type ${datasource.type}, not ${type}`)
    }
    const walk = (node: unknown, where: string) => {
      if (Array.isArray(node)) return node.forEach((item, index) => walk(item, `${where}[${index}]`))
      if (!isMapping(node)) return
      for (const [key, value] of Object.entries(node)) {
        const path = where ? `${where}.${key}` : key
        if (key === 'datasource') check(value, path)
        else walk(value, path)
      }
    }
    walk(data, '')
  }
}

type Mapping = Record<string, unknown>

function unique<T>(items: T[]): T[] {
  return [...new Set(items)]
}

function parseQuietly(file: string): unknown {
  try {
    return parse(readFileSync(file, 'utf8'))
  } catch {
    return undefined // reported by parses()
  }
}

function filesUnder(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...filesUnder(path))
    else out.push(path)
  }
  return out
}

function jsonFilesUnder(dir: string): string[] {
  return filesUnder(dir).filter((file) => file.endsWith('.json'))
}

/** promtool's answer in one line, without its "Checking ..." preamble. */
function promtoolReason(output: string): string {
  return oneLine(
    output
      .split('\n')
      .filter((line) => line.trim() && !/^\s*Checking /.test(line) && !/^\s*SUCCESS/.test(line))
      .join(' ')
      .replace(/\bFAILED:\s*/g, ''),
  )
}

/** One line per failed promtool unit test: which test, which alert at which time, what was expected and what came. */
export function promtoolTestFailures(output: string): string[] {
  const failures: string[] = []
  const blocks = output.split(/\n\s*FAILED:\s*\n/).slice(1)
  for (const block of blocks) {
    const name = /name:\s*(.*?),\s*\n/.exec(block)?.[1]
    const alert = /alertname:\s*([^,]+),\s*time:\s*([^,\s]+)/.exec(block)
    const labels = (part: string | undefined) => [...(part ?? '').matchAll(/Labels:(\{[^}]*\})/g)].map((m) => m[1]).join(' ') || 'no alert'
    const [, expected, got] = /exp:\[([\s\S]*?)\],\s*\n\s*got:\[([\s\S]*?)\]/.exec(block) ?? []
    if (alert) failures.push(`test "${name ?? '?'}": ${alert[1]} at ${alert[2]}: expected ${labels(expected)}, got ${labels(got)}`)
    else failures.push(oneLine(block))
  }
  return failures.length ? failures : [oneLine(output)]
}

/** Runs every check. Never throws for a problem in the repository: it is in the report. */
export async function validate(options: ValidateOptions): Promise<ValidateReport> {
  const root = resolve(options.root)
  const env = options.env ?? process.env
  const tools: Tools = {
    docker: options.docker ?? dockerWithStackConfig(env),
    promtool: findProgram('promtool', env),
    nginx: findProgram('nginx', env) ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined),
  }
  const validation = new Validation(root, env, tools)
  try {
    if ('problem' in tools.docker) validation.report(join(root, 'stacks'), `not checked with docker stack config: ${tools.docker.problem}`)
    const profiles = knownProfiles(root)
    for (const stack of fileStacks) validation.stack(stack, profiles)
    await validation.collectorsStack(options.collectors)
    validation.configFiles()
    return { problems: await validation.problems(), checked: validation.checked }
  } finally {
    validation.cleanup()
  }
}

/** `activity validate [--root DIR]`: one line per problem on stderr, exit 1 when there is any. */
export async function validateCommand(args: string[], env: NodeJS.ProcessEnv, collectorsDir: URL): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { root: { type: 'string' } } })
  if (positionals.length) throw new UsageError(`validate takes no arguments (got ${positionals.join(' ')}); usage: activity validate [--root DIR]`)
  const root = resolve(values.root ?? '.')
  if (!existsSync(join(root, 'stacks'))) throw new UsageError(`${root} has no stacks/ folder: run from the repository, or pass --root DIR`)
  const report = await validate({ root, env, collectors: await loadCollectors(collectorsDir) })
  for (const problem of report.problems) process.stderr.write(formatProblem(problem) + '\n')
  if (report.problems.length) {
    process.stderr.write(`${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}\n`)
    return 1
  }
  process.stdout.write(`ok: ${report.checked.join('; ')}\n`)
  return 0
}
