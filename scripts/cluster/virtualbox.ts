// placeholder
import type { ClusterContext } from './swarm.ts'
export async function virtualboxCommand(command: string, ctx: ClusterContext, names: string[], env: NodeJS.ProcessEnv): Promise<number> {
  throw new Error(`virtualbox ${command} ${names} ${ctx.config.provider} ${Object.keys(env).length}`)
}
