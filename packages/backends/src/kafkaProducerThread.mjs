// Entry of the Kafka producer thread: loads the TypeScript module through tsx, which EventFlow runs on.
import { tsImport } from "tsx/esm/api"

await tsImport("./KafkaProducerThread.ts", import.meta.url)
