import { For } from "solid-js"
import type { FeedAlert } from "../data/liveStore.ts"
import { num, stamp } from "./format.ts"
import { Panel } from "./Panel.tsx"

export const AlertsFeed = (props: { readonly alerts: ReadonlyArray<FeedAlert> }) => (
  <Panel title="alerts" class="feed" aside={<span class="aside">{props.alerts.length}</span>}>
    <ol class="list" data-testid="alerts">
      <For each={props.alerts} fallback={<li class="empty">no alerts</li>}>
        {(a) => (
          <li
            class="alert-row"
            data-testid="alert-row"
            data-severity={a.severity}
            data-status={a.status}
            title={a.message}
          >
            <span class="time">{stamp(a.time)}</span>
            <span class="sev">{a.severity}</span>
            <span class="status">{a.status}</span>
            <span class="what">
              <b>{a.pipeline}</b>/{a.rule} <span class="muted">key</span> {a.key}
              {a.value === null ? "" : ` = ${num(a.value)}`}
            </span>
            <span class="message">{a.message}</span>
          </li>
        )}
      </For>
    </ol>
  </Panel>
)
