export * from "./Keys.ts"
export * from "./Servers.ts"
