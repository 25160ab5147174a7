// The config files the stacks mount, each checked by the program that reads it: Prometheus configs and rules with
// promtool (rules with their unit tests), nginx.conf with nginx -t; Grafana's in validate-grafana.ts.
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { parse } from 'yaml'
import { oneLine } from '../collectors/runtime/errors.ts'
import { fileStacks, isMapping, knownProfiles, section, stackFiles, type StackName } from './stacks.ts'
import { runSync } from './programs.ts'
import { filesUnder, listOf, parseQuietly, parseYaml, runChecker, unique, type Mapping, type Validation } from './validate-core.ts'
import { checkGrafana, type GrafanaFiles } from './validate-grafana.ts'

/** A config file a service mounts, with the service's image and where the file is mounted. */
interface Mounted {
  image: string
  file: string
  target: string
}

/** The file-backed configs the services of a stack mount (base and every overlay), those whose file exists. */
function mountedConfigs(root: string, stack: StackName): Mounted[] {
  const declared = new Map<string, string>()
  const services: Mapping[] = []
  for (const path of stackFiles(stack, { root, profiles: knownProfiles(root) })) {
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
  const mounted: Mounted[] = []
  for (const service of services) {
    const image = typeof service.image === 'string' ? service.image : ''
    for (const entry of listOf(service.configs)) {
      const source = typeof entry === 'string' ? entry : isMapping(entry) ? entry.source : undefined
      const target = isMapping(entry) && typeof entry.target === 'string' ? entry.target : `/${String(source)}`
      const file = typeof source === 'string' ? declared.get(source) : undefined
      if (!file || !existsSync(file)) continue // reported with the stack
      mounted.push({ image, file, target })
    }
  }
  return mounted
}

/** Every config file the stacks mount, by the program that reads it. */
export function checkConfigFiles(v: Validation): void {
  const seen = new Set<string>()
  const prometheusConfigs: string[] = []
  const ruleFiles: string[] = []
  const nginxConfigs: string[] = []
  const pipelines: string[] = []
  const grafana: GrafanaFiles = { datasources: [], providers: [], dashboards: [] }

  for (const stack of fileStacks) {
    for (const { image, file, target } of mountedConfigs(v.root, stack)) {
      if (image.startsWith('prom/prometheus:')) {
        if (target.endsWith('/prometheus.yml')) prometheusConfigs.push(file)
        else if (/\.ya?ml$/.test(target)) ruleFiles.push(file)
      } else if (image.startsWith('nginx:') && target === '/etc/nginx/nginx.conf') {
        nginxConfigs.push(file)
      } else if (/(^|\/)logstash:/.test(image) && target.endsWith('.conf')) {
        pipelines.push(file)
      } else if (image.startsWith('grafana/grafana:')) {
        if (target.includes('/provisioning/datasources/')) grafana.datasources.push(file)
        else if (target.includes('/provisioning/dashboards/')) grafana.providers.push(file)
        else if (target.endsWith('.json')) grafana.dashboards.push({ file, target })
      }
      if (!seen.has(file)) {
        seen.add(file)
        parses(v, file)
      }
    }
  }

  checkPrometheus(v, unique(prometheusConfigs), unique(ruleFiles))
  for (const file of unique(nginxConfigs)) checkNginx(v, file)
  for (const file of unique(pipelines)) checkLogstashComments(v, file)
  checkGrafana(v, grafana)
}

/** Every .json config is JSON and every .yml one YAML, whichever program reads it. */
function parses(v: Validation, file: string): void {
  const text = readFileSync(file, 'utf8')
  if (file.endsWith('.json')) {
    try {
      JSON.parse(text)
    } catch (error) {
      v.report(file, `JSON: ${(error as Error).message}`)
    }
  } else if (/\.ya?ml$/.test(file)) {
    parseYaml(v, file)
  }
}

function checkPrometheus(v: Validation, configs: string[], rules: string[]): void {
  if (!configs.length && !rules.length) return
  const promtool = v.tools.promtool
  if (!promtool) {
    v.report(configs[0] ?? rules[0]!, 'not checked: promtool is not installed (apt-get install prometheus)')
    return
  }
  for (const file of configs) checkPrometheusConfig(v, promtool, file)
  for (const file of rules) checkRules(v, promtool, file)
  v.checked.push(`${configs.length} Prometheus configs, ${rules.length} rule file${rules.length === 1 ? '' : 's'} with unit tests`)
}

function promtoolRun(v: Validation, promtool: string, args: string[]) {
  return runChecker(promtool, args, { cwd: v.root })
}

function checkPrometheusConfig(v: Validation, promtool: string, file: string): void {
  // Syntax only: the rule files it names are checked on their own, with one line per problem.
  v.later(['promtool check config', promtool, { file }], async () => {
    const result = await promtoolRun(v, promtool, ['check', 'config', '--syntax-only', v.rel(file)])
    return result.status === 0 ? [] : [v.problem(file, `promtool check config: ${promtoolReason(result.stdout + result.stderr + (result.error?.message ?? ''))}`)]
  })
  const data = parseQuietly(file)
  for (const ruleFile of listOf(isMapping(data) ? data.rule_files : undefined)) {
    if (typeof ruleFile === 'string' && !ruleFile.includes('*') && !existsSync(resolve(dirname(file), ruleFile))) {
      v.report(file, `rule_files: ${ruleFile} does not exist beside it (the stack mounts rules next to prometheus.yml)`)
    }
  }
}

function checkRules(v: Validation, promtool: string, file: string): void {
  const tests = file.replace(/\.ya?ml$/, '.test.yml')
  if (!existsSync(tests)) v.report(file, `has no unit tests: add ${basename(tests)} beside it (promtool test rules) with a firing and a silent case per alert`)
  v.later(['promtool check and test rules', promtool, { file }, { file: tests }], async () => {
    const result = await promtoolRun(v, promtool, ['check', 'rules', v.rel(file)])
    if (result.status !== 0) return [v.problem(file, `promtool check rules: ${promtoolReason(result.stdout + result.stderr + (result.error?.message ?? ''))}`)]
    if (!existsSync(tests)) return []
    const tested = await promtoolRun(v, promtool, ['test', 'rules', v.rel(tests)])
    return tested.status === 0 ? [] : promtoolTestFailures(tested.stdout + tested.stderr).map((failure) => v.problem(tests, `promtool test rules: ${failure}`))
  })
}

/**
 * The -g directives an nginx needs to read a config with a stream block: none where the stream module is built in (the
 * nginx image), load_module where it is a dynamic module (Debian's nginx: libnginx-mod-stream). Throws, naming the
 * package, when the module is dynamic and not installed.
 */
export function nginxStreamModule(nginx: string): string {
  const built = runSync(nginx, ['-V']).stderr
  if (!/--with-stream=dynamic\b/.test(built)) return ''
  const modules = /--modules-path=(\S+)/.exec(built)?.[1] ?? '/usr/lib/nginx/modules'
  const module = join(modules, 'ngx_stream_module.so')
  if (!existsSync(module)) throw new Error(`nginx's stream module (${module}) is not installed: apt-get install libnginx-mod-stream`)
  return `load_module ${module};`
}

function checkNginx(v: Validation, file: string): void {
  const nginx = v.tools.nginx
  if (!nginx) {
    v.report(file, 'not checked: nginx is not installed (apt-get install nginx)')
    return
  }
  let modules: string
  try {
    modules = nginxStreamModule(nginx)
  } catch (error) {
    v.report(file, `not checked: ${(error as Error).message}`)
    return
  }
  // A copy of the config's folder, so relative includes resolve; syslog servers are service names that resolve only
  // inside the Swarm, so nginx -t gets the loopback address instead (the port is kept).
  const dir = v.tempDir('nginx')
  cpSync(dirname(file), dir, { recursive: true })
  const copy = join(dir, basename(file))
  const text = readFileSync(file, 'utf8').replace(/(syslog:server=)(?!\d+\.\d+\.\d+\.\d+|\[)([A-Za-z0-9_.-]+)/g, '$1127.0.0.1')
  writeFileSync(copy, text)
  v.later(['nginx -t', nginx, v.rel(file), ...filesUnder(dirname(file)).map((input) => ({ file: input }))], async () => {
    const result = await runChecker(nginx, ['-t', '-q', '-p', dir + '/', '-c', copy, '-e', join(dir, 'error.log'), ...(modules ? ['-g', modules] : [])], { timeoutMs: 60_000 })
    if (result.status === 0) return []
    const output = (result.stderr + result.stdout).split('\n').filter((line) => /\[(emerg|alert|crit|error)\]/.test(line))
    const first = output[0] ?? oneLine(result.stderr || result.error?.message || `exit ${result.status}`)
    const located = /^nginx: \[\w+\] (.*?)(?: in (\S+):(\d+))?$/.exec(first)
    const where = located?.[2] && located[2].startsWith(dir) ? resolve(dirname(file), relative(dir, located[2])) : file
    return [v.problem(where, `nginx -t: ${located?.[1] ?? first}`, located?.[3] ? Number(located[3]) : undefined)]
  })
  v.checked.push(v.rel(file))
}

/**
 * Logstash (no program of it here): a comment between two entries of a hash (`rename => { "a" => "b" # ... }`) parses
 * only from Logstash 8.15 on (older grammars refuse the pipeline), so a pipeline
 * keeps its comments outside hashes. Strings and comments are skipped when counting braces.
 */
export function logstashHashComments(text: string): number[] {
  const lines: number[] = []
  const open: ('hash' | 'block')[] = []
  let line = 1
  let lastToken = ''
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === '\n') {
      line++
      continue
    }
    if (c === '#') {
      if (open[open.length - 1] === 'hash') lines.push(line)
      while (i < text.length && text[i] !== '\n') i++
      i--
      continue
    }
    if (c === '"' || c === "'") {
      for (i++; i < text.length && text[i] !== c; i++) {
        if (text[i] === '\\') i++
        else if (text[i] === '\n') line++
      }
      lastToken = 'string'
      continue
    }
    if (/\s/.test(c)) continue
    if (c === '{') open.push(lastToken === '=>' ? 'hash' : 'block')
    else if (c === '}') open.pop()
    lastToken = c === '=' && text[i + 1] === '>' ? '=>' : c
    if (lastToken === '=>') i++
  }
  return lines
}

function checkLogstashComments(v: Validation, file: string): void {
  for (const line of logstashHashComments(readFileSync(file, 'utf8'))) {
    v.report(file, 'a comment inside a hash (=> { ... }) parses only from Logstash 8.15: move it above the plugin', line)
  }
  v.checked.push(v.rel(file))
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
