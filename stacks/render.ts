// `activity render`: the collectors stack rendered from activity.yml, and the environment a committed stack needs to
// be deployed by hand.
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { loadConfig } from '../collectors/runtime/activity-yml.ts'
import { UsageError } from '../collectors/runtime/errors.ts'
import { loadCollectors } from '../collectors/runtime/registry.ts'
import { renderCollectors } from './collectors-stack.ts'
import { fileStacks, isStackName, profilesFrom, stackEnvironment } from './stacks.ts'

const usage = `usage: activity render collectors [--config FILE] [--output FILE]
       activity render env <stack> [--root DIR] [--profile NAME]...
  collectors  the collectors stack for activity.yml (stdout, or --output FILE)
  env         NAME=VALUE lines a stack file needs (its configs' content hashes), for a deploy by hand:
              env $(activity render env metrics) docker stack deploy -c stacks/metrics.yml metrics`

/** `activity render ...`; collectorsDir is where the CLI finds the collectors. */
export async function renderCommand(args: string[], env: NodeJS.ProcessEnv, collectorsDir: URL): Promise<number> {
  const [what, ...rest] = args
  if (what === 'collectors') {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { config: { type: 'string' }, output: { type: 'string' } } })
    if (positionals.length) throw new UsageError(`render collectors takes no arguments (got ${positionals.join(' ')}); ${usage}`)
    const file = values.config ?? env.ACTIVITY_CONFIG ?? 'activity.yml'
    const text = renderCollectors(loadConfig(file, await loadCollectors(collectorsDir)))
    if (values.output) writeFileSync(values.output, text)
    else process.stdout.write(text)
    return 0
  }
  if (what === 'env') {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { root: { type: 'string' }, profile: { type: 'string', multiple: true } },
    })
    const [stack, ...extra] = positionals
    if (!stack || extra.length || !isStackName(stack) || stack === 'collectors') {
      throw new UsageError(`render env takes one stack: ${fileStacks.join(', ')}`)
    }
    const vars = stackEnvironment(stack, { root: values.root, profiles: values.profile ?? profilesFrom(env) })
    for (const [name, value] of Object.entries(vars)) process.stdout.write(`${name}=${value}\n`)
    return 0
  }
  if (what === undefined || what === 'help' || what === '--help') {
    process.stdout.write(usage + '\n')
    return what === undefined ? 2 : 0
  }
  throw new UsageError(`unknown render target '${what}'; ${usage.split('\n')[0]}`)
}
