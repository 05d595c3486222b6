import type { JSX } from "solid-js"

/** A bordered block with a title line; `aside` sits at the right of the title. */
export const Panel = (props: {
  readonly title: string
  readonly aside?: JSX.Element
  readonly testid?: string
  readonly class?: string
  readonly children: JSX.Element
}) => (
  <section class={`panel ${props.class ?? ""}`} data-testid={props.testid}>
    <h2 class="panel-title">
      <span>{props.title}</span>
      {props.aside}
    </h2>
    <div class="panel-body">{props.children}</div>
  </section>
)
