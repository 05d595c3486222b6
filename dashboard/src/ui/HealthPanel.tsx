import { For, Show } from "solid-js"
import type { Health } from "../data/types.ts"
import { clock, ms } from "./format.ts"
import { Panel } from "./Panel.tsx"

export const HealthPanel = (props: { readonly health: Health | null; readonly stale: boolean }) => (
  <Panel
    title="health"
    testid="health"
    class={props.stale ? "stale" : ""}
    aside={
      <span class="aside">
        <span class="pill" data-state={props.health?.status ?? "unknown"} data-testid="health-status">
          {props.health?.status ?? "unknown"}
        </span>{" "}
        {clock(props.health?.checkedAt)}
      </span>
    }
  >
    <Show when={props.health} fallback={<p class="empty">no answer yet</p>}>
      {(health) => (
        <table class="table">
          <tbody>
            <For each={health().components}>
              {(c) => (
                <tr class="health-row" data-testid={`health-${c.name}`} data-ok={String(c.ok)}>
                  <td class="state-cell">
                    <span class="state" data-ok={String(c.ok)}>
                      {c.ok ? "OK" : "DOWN"}
                    </span>
                  </td>
                  <td>
                    <b>{c.name}</b>
                  </td>
                  <td class="muted">{c.kind}</td>
                  <td class="num">{ms(c.latencyMs)} ms</td>
                  <td class="detail" title={c.error ?? c.detail ?? ""}>
                    {c.error ?? c.detail ?? ""}
                  </td>
                </tr>
              )}
            </For>
          </tbody>
        </table>
      )}
    </Show>
  </Panel>
)
