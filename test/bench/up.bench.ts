// `npm run up` timed on this machine's single-node swarm (the e2e's stand-ins, overlays and fake APIs): from a clean swarm
// with the images present to every service converged, and a second up that changes nothing. Target (issue 5): the
// no-change up under 10 s; exits non-zero when missed.
import { activityTag, buildImage } from '../../stacks/deploy/images.ts'
import { cleanPlatform, cleanUp, npmRun, root, type Prepared } from '../e2e/platform.ts'
import { nodeStandIn } from '../e2e/standins.ts'

const noChangeRuns = Number(process.env.BENCH_RUNS ?? 3)
const target = 10
const log = (line: string) => process.stdout.write(`  ${line}\n`)

/** The seconds up reports for reaching "converged" (its step 7), from its output. */
function convergedSeconds(output: string): number {
  return Number(/\[7\/7\] converged .*\(([\d.]+) s\)/.exec(output)?.[1] ?? NaN)
}

let prepared: Prepared | undefined
try {
  prepared = await cleanPlatform(() => {})
  // Images present: the project's image is built before the clock starts, as up would build it.
  const tag = await activityTag(root)
  await buildImage('collectors', { root, registry: '', tag, nodeImage: nodeStandIn.tag, env: { ...process.env, DOCKER_BUILDKIT: '0' }, progress: () => {} })

  const first = await npmRun('up', prepared.upArgs, prepared.env)
  if (first.code !== 0) throw new Error(`the first up failed:\n${first.output}`)
  log(`up on a clean swarm: every service converged after ${convergedSeconds(first.output)} s; the whole command took ${first.seconds.toFixed(1)} s (with waiting for the first scrape of the collectors' results)`)

  const again: number[] = []
  for (let i = 0; i < noChangeRuns; i++) {
    const run = await npmRun('up', prepared.upArgs, prepared.env)
    if (run.code !== 0 || !run.output.includes('nothing to change')) throw new Error(`a no-change up changed something or failed:\n${run.output}`)
    again.push(run.seconds)
  }
  const median = [...again].sort((a, b) => a - b)[Math.floor(again.length / 2)]!
  log(`no-change up (npm run up, whole command): ${again.map((s) => s.toFixed(1)).join(', ')} s; median ${median.toFixed(1)} s (target < ${target} s)`)
  process.exitCode = median < target ? 0 : 1
} catch (error) {
  log(`up benchmark failed: ${(error as Error).message}`)
  process.exitCode = 1
} finally {
  await cleanUp(prepared, () => {})
}
