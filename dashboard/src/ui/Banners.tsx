import { For, Show } from "solid-js"
import type { Health } from "../data/types.ts"

/** The loud line at the top: the API cannot be reached, or some component of it is down. */
export const Banners = (props: {
  readonly health: Health | null
  readonly unreachable: boolean
  readonly error: string | null
  readonly apiBase: string
  readonly lastOk: string
}) => {
  const down = () => (props.unreachable ? [] : (props.health?.components.filter((c) => !c.ok) ?? []))
  return (
    <>
      <Show when={props.unreachable}>
        <div class="banner banner-bad" role="alert" data-testid="api-unreachable">
          <b>API UNREACHABLE</b>
          <span>{props.apiBase === "" ? "same origin" : props.apiBase}</span>
          <span>{props.error}</span>
          <span>last answer {props.lastOk}</span>
        </div>
      </Show>
      <Show when={down().length > 0}>
        <div class="banner banner-bad" role="alert" data-testid="down-banner">
          <b>DOWN</b>
          <For each={down()}>
            {(c) => (
              <span class="banner-item">
                {c.name}
                <Show when={c.error}>
                  <em>: {c.error}</em>
                </Show>
              </span>
            )}
          </For>
        </div>
      </Show>
    </>
  )
}
