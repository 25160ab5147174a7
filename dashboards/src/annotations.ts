// Annotations of the activity dashboards: events drawn across every time series panel.
import { AnnotationQueryBuilder, type AnnotationQuery } from '@grafana/grafana-foundation-sdk/dashboard'
import { selected } from './common.ts'

/** What Grafana's Prometheus annotation reads beside the SDK's fields (legacy top-level options it still honours). */
interface PrometheusAnnotation extends AnnotationQuery {
  /** Each sample's value is the event's time in milliseconds, not the sample's own time. */
  useValueForTime: boolean
  titleFormat: string
  textFormat: string
  tagKeys: string
  step: string
}

/**
 * A mark at each release's publication time: the github collector's github_repository_latest_release_timestamp_seconds
 * is the latest release's time, so every value it took in the range is one release (samples of one value are one mark).
 */
export function releases(repositorySelector: string): { build(): PrometheusAnnotation } {
  return {
    build: () => ({
      ...new AnnotationQueryBuilder()
        .name('Releases')
        .datasource(selected)
        .enable(true)
        .iconColor('purple')
        .expr(`max by (owner, repository) (github_repository_latest_release_timestamp_seconds${repositorySelector}) * 1000`)
        .build(),
      useValueForTime: true,
      titleFormat: '{{owner}}/{{repository}} released',
      textFormat: 'a release of {{owner}}/{{repository}} was published (GitHub, latest release)',
      tagKeys: 'owner,repository',
      // Collectors run hourly: samples of one release an hour apart stay one mark.
      step: '1h',
    }),
  }
}
