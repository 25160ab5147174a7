// What the GitHub collector should record for a repository of the fake GitHub, worked out from the fake's data by
// GitHub's rules (never by the collector's code).
import { latestRelease, visibleReleases, type RepositoryData } from './github-data.ts'

/** Every github_repository_* value (undefined: not recorded) for `repo`, with downloads of its `releases` most recent releases. */
export function expectedMetrics(repo: RepositoryData, releases: number): Record<string, number | undefined> {
  const recent = [...visibleReleases(repo)].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt)).slice(0, releases)
  const latest = latestRelease(repo)
  return {
    github_repository_stars: repo.stargazerCount,
    github_repository_forks: repo.forkCount,
    github_repository_watchers: repo.watchers,
    github_repository_open_issues: repo.issues.open,
    github_repository_closed_issues: repo.issues.closed,
    github_repository_open_pull_requests: repo.pullRequests.open,
    github_repository_closed_pull_requests: repo.pullRequests.closed,
    github_repository_merged_pull_requests: repo.pullRequests.merged,
    github_repository_releases: visibleReleases(repo).length,
    github_repository_latest_release_timestamp_seconds: latest?.publishedAt ? Date.parse(latest.publishedAt) / 1000 : undefined,
    github_repository_release_downloads: recent.length ? recent.flatMap((r) => r.assets).reduce((sum, a) => sum + a.downloadCount, 0) : undefined,
    github_repository_commits: repo.defaultBranch?.commits,
    github_repository_disk_usage_bytes: repo.diskUsage === null ? undefined : repo.diskUsage * 1024,
    github_repository_created_timestamp_seconds: Date.parse(repo.createdAt) / 1000,
    github_repository_pushed_timestamp_seconds: repo.pushedAt ? Date.parse(repo.pushedAt) / 1000 : undefined,
  }
}

/** What the REST listing (no token) gives of each repository; watchers only come with one repository's own GET. */
export const restListingMetrics = [
  'github_repository_stars',
  'github_repository_forks',
  'github_repository_disk_usage_bytes',
  'github_repository_created_timestamp_seconds',
  'github_repository_pushed_timestamp_seconds',
] as const
