import { createSignal, For, onCleanup } from "solid-js"
import type { TailEvent } from "../data/liveStore.ts"
import { clock, preview } from "./format.ts"
import { Panel } from "./Panel.tsx"

export const FILTER_DEBOUNCE_MS = 300

const TypeFilter = (props: {
  readonly value: string
  readonly types: ReadonlyArray<string>
  readonly onChange: (type: string) => void
}) => {
  const [draft, setDraft] = createSignal(props.value)
  let timer: ReturnType<typeof setTimeout> | undefined
  const commit = (value: string) => {
    clearTimeout(timer)
    props.onChange(value)
  }
  onCleanup(() => clearTimeout(timer))
  return (
    <form
      class="filter"
      onSubmit={(e) => {
        e.preventDefault()
        commit(draft())
      }}
    >
      <input
        data-testid="event-type-filter"
        type="search"
        list="event-types"
        placeholder="type filter"
        aria-label="event type filter"
        value={draft()}
        onInput={(e) => {
          const value = e.currentTarget.value
          setDraft(value)
          clearTimeout(timer)
          timer = setTimeout(() => commit(value), FILTER_DEBOUNCE_MS)
        }}
      />
      <datalist id="event-types">
        <For each={props.types}>{(type) => <option value={type} />}</For>
      </datalist>
    </form>
  )
}

export const EventTail = (props: {
  readonly events: ReadonlyArray<TailEvent>
  readonly filter: string
  readonly types: ReadonlyArray<string>
  readonly onFilter: (type: string) => void
}) => (
  <Panel
    title="event tail"
    class="feed"
    aside={<TypeFilter value={props.filter} types={props.types} onChange={(type) => props.onFilter(type)} />}
  >
    <ol class="list events" data-testid="event-tail" data-filter={props.filter}>
      <For
        each={props.events}
        fallback={<li class="empty">no events{props.filter ? ` of type ${props.filter}` : ""}</li>}
      >
        {(e) => (
          <li class="event-row" data-testid="event-row" data-type={e.type}>
            <span class="time" title={e.time}>
              {clock(e.time)}
            </span>
            <span class="type">{e.type}</span>
            <span class="where muted">
              {e.topic}[{e.partition}]@{e.offset}
            </span>
            <span class="subject">{e.subject ?? ""}</span>
            <span class="data" title={preview(e.data, 4000)}>
              {preview(e.data)}
            </span>
          </li>
        )}
      </For>
    </ol>
  </Panel>
)
