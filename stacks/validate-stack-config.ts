// What `docker stack config` (the parser `docker stack deploy` uses) says of each stack, base file and profile
// overlays merged, with the environment a deploy would give it; and the collectors stack, rendered from activity.yml.
import { existsSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { loadConfig } from '../collectors/runtime/activity-yml.ts'
import type { AnyCollector } from '../collectors/runtime/define.ts'
import { ConfigError, oneLine } from '../collectors/runtime/errors.ts'
import { loadCollectors } from '../collectors/runtime/registry.ts'
import { renderCollectors } from './collectors-stack.ts'
import { configDeclarations, contentHash, type StackName } from './stacks.ts'
import { runChecker, type Problem, type Validation } from './validate-core.ts'

/** The environment a deploy would interpolate the stack with (a missing config file, reported apart, gets a stand-in hash). */
export function deployEnv(v: Validation, stack: StackName, profiles: string[]): Record<string, string | undefined> {
  const hashes: Record<string, string> = {}
  for (const config of configDeclarations(stack, { root: v.root, profiles })) {
    hashes[config.variable] = existsSync(config.file) && statSync(config.file).isFile() ? contentHash(config.file) : 'missing0'
  }
  return { ...v.env, ACTIVITY_TAG: v.env.ACTIVITY_TAG || '0.0.0-validate', ...hashes }
}

/** `docker stack config` over a stack's files (the base, then one profile's overlay), when there is a docker that has it. */
export function dockerStackConfig(v: Validation, stack: StackName, files: string[], profiles: string[]): void {
  const docker = v.tools.docker
  if ('problem' in docker) return
  let env: Record<string, string | undefined>
  try {
    env = deployEnv(v, stack, profiles)
  } catch {
    return // reported by checkStackFile
  }
  runDockerStackConfig(v, docker.path, files, env, files[files.length - 1]!)
}

function stackConfig(docker: string, files: string[], env: Record<string, string | undefined>) {
  return runChecker(docker, ['stack', 'config', ...files.flatMap((f) => ['-c', f])], { env: env as NodeJS.ProcessEnv, timeoutMs: 60_000 })
}

/** Runs `docker stack config -c FILE...`; what it refuses is reported with `blame` (the last file, or activity.yml). */
export function runDockerStackConfig(v: Validation, docker: string, files: string[], env: Record<string, string | undefined>, blame: string, prefix = ''): void {
  const environment = JSON.stringify(Object.entries(env).sort(([a], [b]) => a.localeCompare(b)))
  v.later(['docker stack config', docker, environment, v.rel(blame), prefix, ...files.map((file) => ({ file }))], async (): Promise<Problem[]> => {
    const result = await stackConfig(docker, files, env)
    if (result.status === 0) return []
    if (files.length > 1) {
      // A problem of the base file is reported once, with the base file, not again with each of its overlays.
      const base = await stackConfig(docker, [files[0]!], env)
      if (base.status !== 0) return []
    }
    const reason = oneLine(result.stderr || result.error?.message || `exit ${result.status}`).replace(/; you may need to escape any \$ with another \$$/, '')
    const merged = files.length > 1 ? ` (with ${files.slice(0, -1).map((f) => v.rel(f)).join(', ')})` : ''
    return [v.problem(blame, `${prefix}docker stack config${merged}: ${reason}`)]
  })
}

/** The collectors stack: rendered from activity.yml (its problems are activity.yml's), then through docker stack config. */
export async function checkCollectorsStack(v: Validation, collectors: Map<string, AnyCollector> | undefined): Promise<void> {
  const activityFile = join(v.root, 'activity.yml')
  if (!existsSync(activityFile)) {
    v.report(activityFile, 'not found: the collectors stack is rendered from it')
    return
  }
  let text: string
  try {
    const loaded = collectors ?? (await loadCollectors(pathToFileURL(join(v.root, 'collectors') + '/')))
    text = renderCollectors(loadConfig(activityFile, loaded), { backup: { profiles: [], without: [] } })
  } catch (error) {
    if (error instanceof ConfigError) v.report(error.file, `${error.field}: ${error.problem}${error.fix ? `; ${error.fix}` : ''}`, error.line)
    else v.report(activityFile, `cannot render the collectors stack: ${oneLine(error)}`)
    return
  }
  const dir = v.tempDir('collectors')
  const rendered = join(dir, 'collectors.yml')
  writeFileSync(rendered, text)
  const docker = v.tools.docker
  if (!('problem' in docker)) {
    const env = { ...v.env, ACTIVITY_TAG: v.env.ACTIVITY_TAG || '0.0.0-validate' }
    runDockerStackConfig(v, docker.path, [rendered], env, activityFile, 'the collectors stack rendered from it: ')
  }
  v.checked.push('collectors (rendered from activity.yml)')
}
