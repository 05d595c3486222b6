export * from "./Kafka.ts"
export * from "./Net.ts"
export * from "./Processes.ts"
export * from "./Services.ts"
