import { createDashboard, type DashboardOptions } from "./data/dashboard.ts"
import { Overview } from "./pages/Overview.tsx"

export const App = (props: { readonly options: DashboardOptions }) => (
  <Overview dashboard={createDashboard(props.options)} />
)
