// `activity validate`: everything a deploy would trip over, found before it. Stack files (YAML, `docker stack config`,
// pinned images, declared configs and secrets, published ports), Prometheus configs and rules (promtool), nginx.conf
// (nginx -t), Grafana provisioning and dashboards. Each problem is one line naming its file.
//
// This file is the command and the repository's policy (what may go unpinned, what may publish a port); the checks
// are below it: validate-stacks.ts and validate-stack-config.ts (stack files, docker stack config, the collectors
// stack), validate-placement.ts (plain HTTP only where allowed, stores on the storage node, cAdvisor's metric flags),
// validate-configs.ts (promtool, nginx -t, the Logstash pipeline), validate-grafana.ts, all sharing validate-core.ts's
// bookkeeping.
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { AnyCollector } from '../collectors/runtime/define.ts'
import { UsageError } from '../collectors/runtime/errors.ts'
import { loadCollectors } from '../collectors/runtime/registry.ts'
import { dockerWithStackConfig, type DockerClient } from './docker-client.ts'
import { runSync } from './programs.ts'
import { fileStacks, knownProfiles } from './stacks.ts'
import { checkConfigFiles } from './validate-configs.ts'
import { Validation, formatProblem, type Problem, type Tools } from './validate-core.ts'
import { checkCollectorsStack } from './validate-stack-config.ts'
import { checkStack, imageProblem as pinProblem, type StackPolicy } from './validate-stacks.ts'

export { formatProblem, type Problem }
export { promtoolTestFailures } from './validate-configs.ts'
export { InterpolationError, interpolate } from './validate-stacks.ts'

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
}

/**
 * The only Traefik routers (<stack>/<router>) that answer on plain HTTP; Traefik redirects every other request to
 * HTTPS (stacks/admin.yml), so that no password or session travels in clear text.
 */
export const plainHttpRouters: Record<string, string> = {
  'app/site': 'the public website: nothing secret travels, and visitors reach it before a certificate resolver is configured',
  'gitops/gitops-webhook': "webhook senders refuse Traefik's self-signed certificate; the payload is HMAC-signed and carries no secret",
}

/** Services that keep a named volume off the storage node, and why. */
export const storeExemptions: Record<string, string> = {
  'gitops/gitops': 'it needs a manager (docker stack deploy); its volume is a clone of the remote and the last deployed commits, rebuilt by redeploying once',
}

const policy: StackPolicy = { unpinnedImageExemptions, publishedPortsAllowed, plainHttpRouters, storeExemptions }

/** Why an image reference is not pinned, or undefined when it is. */
export function imageProblem(image: string): string | undefined {
  return pinProblem(image, unpinnedImageExemptions)
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
  const found = runSync('sh', ['-c', `command -v ${program}`], { env }).stdout.trim()
  return found || undefined
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
    for (const stack of fileStacks) checkStack(validation, stack, profiles, policy)
    await checkCollectorsStack(validation, options.collectors)
    checkConfigFiles(validation)
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
