// The `activity cluster` commands, and what every provider does once its machines answer.
import { UsageError, StepError } from '../../collectors/runtime/errors.ts'
import { deployedStacks } from '../../stacks/deploy/deploy.ts'
import { seconds } from '../lib/output.ts'
import { cleanSwarm, initSwarm, remountShared, swarmStatus, type ClusterContext } from './swarm.ts'

export const commands = ['init', 'start', 'stop', 'clean', 'remount', 'status', 'join'] as const
export type Command = (typeof commands)[number]

/** The commands every provider shares once its machines answer; `start` and `stop` only make sense for VMs. */
export async function swarmCommand(command: Command, ctx: ClusterContext, names: string[], started = Date.now()): Promise<number> {
  const { config, out } = ctx
  switch (command) {
    case 'init':
    case 'join': {
      const changed = await initSwarm(ctx, command === 'join' ? { only: names } : {})
      out.line()
      const { healthy } = await swarmStatus(ctx)
      out.line(changed ? `${command}: done (${seconds(started)})` : `${command}: nothing to change, the cluster was already as activity.yml describes it (${seconds(started)})`)
      return healthy ? 0 : 1
    }
    case 'status':
      return (await swarmStatus(ctx)).healthy ? 0 : 1
    case 'clean': {
      if (config.provider === 'local') {
        const stacks = await deployedStacks().catch(() => [])
        if (stacks.length) throw new StepError('clean', `the platform still runs here (stacks ${stacks.join(', ')})`, 'remove it first: npm run down')
      }
      const changed = await cleanSwarm(ctx)
      out.line(changed ? `clean: done, no node is in a swarm (${seconds(started)})` : `clean: nothing to do, no node was in a swarm (${seconds(started)})`)
      return 0
    }
    case 'remount':
      await remountShared(ctx)
      out.line(`remount: done (${seconds(started)})`)
      return 0
    case 'start':
    case 'stop':
      throw new UsageError(
        `${command} is for the virtualbox provider, whose VMs activity makes; ${config.provider === 'ssh' ? 'ssh hosts are started and stopped by their own system (e.g. systemctl start docker there)' : 'the local engine is started by this machine (e.g. systemctl start docker)'}`,
      )
  }
}
