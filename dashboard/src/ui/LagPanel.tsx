import { For, Show } from "solid-js"
import type { TopicsResponse } from "../data/types.ts"
import { compact, int } from "./format.ts"
import { Panel } from "./Panel.tsx"

const records = (start: string, end: string) => Math.max(0, Number(end) - Number(start))

/** Consumer lag per group and topic-partition, as bars scaled to the largest lag shown. */
export const LagPanel = (props: { readonly topics: TopicsResponse | null; readonly stale: boolean }) => {
  const maxLag = () =>
    Math.max(1, ...(props.topics?.groups.flatMap((g) => g.partitions.map((p) => p.lag)) ?? []))
  return (
    <Panel title="consumer lag" testid="lag" class={props.stale ? "stale" : ""}>
      <Show when={props.topics} fallback={<p class="empty">no answer yet</p>}>
        {(topics) => (
          <>
            <Show when={topics().groups.length === 0}>
              <p class="empty">no consumer groups</p>
            </Show>
            <For each={topics().groups}>
              {(group) => (
                <div class="group" data-testid={`lag-group-${group.group}`}>
                  <div class="group-head">
                    <b>{group.group}</b>
                    <Show when={group.pipeline}>
                      <span class="muted">pipeline {group.pipeline}</span>
                    </Show>
                    <span class="num" data-tone={group.lag > 0 ? "warn" : undefined}>
                      lag {int(group.lag)}
                    </span>
                  </div>
                  <For each={group.partitions}>
                    {(p) => (
                      <div class="lag-row" data-testid="lag-row" data-lag={p.lag}>
                        <span class="lag-name">
                          {p.topic}[{p.partition}]
                        </span>
                        <span class="bar">
                          <span
                            class="bar-fill"
                            data-tone={p.lag > 0 ? "warn" : undefined}
                            style={{ width: `${(p.lag / maxLag()) * 100}%` }}
                          />
                        </span>
                        <span class="num">{compact(p.lag)}</span>
                        <span class="num muted">@{p.offset}</span>
                      </div>
                    )}
                  </For>
                </div>
              )}
            </For>
            <div class="topics">
              <For each={topics().topics}>
                {(t) => (
                  <span class="topic">
                    {t.name} <span class="muted">×{t.partitions.length}</span>{" "}
                    {compact(t.partitions.reduce((n, p) => n + records(p.startOffset, p.endOffset), 0))} rec
                  </span>
                )}
              </For>
            </div>
          </>
        )}
      </Show>
    </Panel>
  )
}
