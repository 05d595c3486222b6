import { createSignal, Show } from "solid-js"

/** Asks for the read token when the API answered 401. */
export const TokenForm = (props: {
  readonly rejected: boolean
  readonly onSubmit: (token: string | null) => void
  readonly onCancel?: () => void
}) => {
  const [value, setValue] = createSignal("")
  return (
    <div class="overlay">
      <form
        class="token-form"
        data-testid="token-form"
        onSubmit={(e) => {
          e.preventDefault()
          props.onSubmit(value().trim() || null)
        }}
      >
        <h2 class="panel-title">read token</h2>
        <p>
          {props.rejected
            ? "The API refused this token. Paste a valid read token."
            : "This API needs a read token (efr_…)."}{" "}
          It is kept in this browser only.
        </p>
        <input
          data-testid="token-input"
          type="password"
          autocomplete="off"
          spellcheck={false}
          placeholder="efr_…"
          aria-label="read token"
          value={value()}
          onInput={(e) => setValue(e.currentTarget.value)}
        />
        <div class="actions">
          <button type="submit" data-testid="token-submit">
            use token
          </button>
          <Show when={props.onCancel}>
            <button type="button" class="link" onClick={() => props.onCancel?.()}>
              cancel
            </button>
          </Show>
          <button type="button" class="link" onClick={() => props.onSubmit(null)}>
            forget token
          </button>
        </div>
      </form>
    </div>
  )
}
