// Every provisioned dashboard: the file Grafana reads (under dashboards/, folder = Grafana folder) and the code that builds it.
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard'
import { adoption } from './adoption.ts'
import { collectors } from './collectors.ts'
import { dockerhub } from './dockerhub.ts'
import { github } from './github.ts'
import { gitops } from './gitops.ts'
import { overview } from './overview.ts'
import { platform } from './platform.ts'
import { projects } from './projects.ts'
import { traffic } from './traffic.ts'
import { visitors } from './visitors.ts'

export interface DashboardFile {
  /** Path under dashboards/, as the admin stack's file provider (foldersFromFilesStructure) reads it. */
  file: string
  build(): Dashboard
}

export const dashboards: DashboardFile[] = [
  { file: 'activity/overview.json', build: overview },
  { file: 'activity/github.json', build: github },
  { file: 'activity/traffic.json', build: traffic },
  { file: 'activity/dockerhub.json', build: dockerhub },
  { file: 'activity/adoption.json', build: adoption },
  { file: 'activity/projects.json', build: projects },
  { file: 'website/visitors.json', build: visitors },
  { file: 'platform/collectors.json', build: collectors },
  { file: 'platform/platform.json', build: platform },
  { file: 'platform/gitops.json', build: gitops },
]

/** The exact text of a dashboard file: 2-space JSON and a final newline, so diffs stay readable. */
export function render(dashboard: Dashboard): string {
  return JSON.stringify(dashboard, null, 2) + '\n'
}
