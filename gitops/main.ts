// `activity gitops`: the long-running gitops service, configured from its environment and Swarm secrets.
import { createLogger, levelFrom } from '../collectors/runtime/log.ts'
import { loadCollectors } from '../collectors/runtime/registry.ts'
import { settingsReader } from '../collectors/runtime/run.ts'
import { UsageError } from '../collectors/runtime/errors.ts'
import { swarmInbox } from './inbox.ts'
import { showPinInSwarm } from './pin.ts'
import { awaitRollout, describeStacks } from './rollout.ts'
import { startGitops } from './service.ts'
import { dockerJobRunner, swarmSteps } from './swarm.ts'

export async function gitopsCommand(args: string[], env: NodeJS.ProcessEnv, collectorsDir: URL): Promise<number> {
  if (args.length) throw new UsageError(`gitops takes no arguments; it is configured by GITOPS_* variables (see the README)`)
  const { secret, setting } = settingsReader(env)
  const log = createLogger({ level: levelFrom(env.LOG_LEVEL), fields: { service: 'gitops' } })
  const number = (name: string, fallback: number) => {
    const value = Number(setting(name) ?? fallback)
    if (!Number.isFinite(value) || value < 0) throw new UsageError(`${name}=${setting(name)} is not a number`)
    return value
  }
  const wholeNumber = (name: string, fallback: number) => {
    const value = number(name, fallback)
    if (!Number.isInteger(value) || value < 1) throw new UsageError(`${name}=${setting(name)} must be a whole number of at least 1`)
    return value
  }
  const service = await startGitops({
    stateDir: setting('GITOPS_STATE_DIR') ?? '/var/lib/activity-gitops',
    port: number('GITOPS_PORT', 8080),
    branch: setting('GITOPS_BRANCH') ?? 'main',
    remoteUrl: secret('GITOPS_REMOTE_URL'),
    pollSeconds: number('GITOPS_POLL_SECONDS', 30),
    webhookSecret: secret('GITOPS_WEBHOOK_SECRET'),
    pushPassword: secret('GITOPS_PUSH_PASSWORD'),
    steps: {
      ...swarmSteps({ registry: setting('REGISTRY') ?? '', collectors: await loadCollectors(collectorsDir), env, pushgateway: setting('PUSHGATEWAY_URL'), log }),
      // A stack is deployed once the swarm runs it, as up waits for it; a service that does not start fails the deployment.
      awaitStack: awaitRollout({ timeoutSeconds: number('GITOPS_CONVERGE_SECONDS', 300) }),
      describe: describeStacks,
    },
    ledgerEntries: wholeNumber('GITOPS_LEDGER_ENTRIES', 1000),
    showPin: showPinInSwarm,
    inbox: swarmInbox,
    runner: dockerJobRunner(),
    log,
  })
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve())
  })
  log.info('stopping: waiting for a running deployment to finish')
  await service.close()
  return 0
}
