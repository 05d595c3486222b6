package dev.eventflow.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.WindowedSerdes;
import org.apache.kafka.streams.processor.TimestampExtractor;
import org.apache.kafka.streams.state.WindowStore;

/**
 * Kafka Streams reference for the EventFlow stream-engine benchmark.
 *
 * <p>Reads CloudEvents 1.0 (structured-mode JSON) from --topic, event time from the {@code time}
 * attribute, and per key (data.key, equal to the record key) aggregates count and sum(data.amount)
 * in 1-minute tumbling windows with 10 s grace, writing the windowed aggregates to --output. It
 * stops after --expected records have been processed and prints one line of JSON to stdout:
 *
 * <pre>{"records":N,"seconds":S,"eventsPerSecond":R,"startupSeconds":T,"guarantee":"exactly_once_v2"}</pre>
 *
 * <p>seconds runs from the first processed record to the Nth; startupSeconds from process start to
 * the first processed record. Everything else (errors, warnings) goes to stderr. Exit 0 on success,
 * 1 on failure (including 120 s without a record), 2 on bad arguments.
 */
public final class StreamsReference {

  private static final String USAGE =
      String.join(
          "\n",
          "usage: java -jar eventflow-bench-kafka-streams-all.jar --topic T --expected N [options]",
          "  --bootstrap HOST:PORT      default 127.0.0.1:9092",
          "  --topic T                  input topic (required, must exist)",
          "  --output T                 output topic, default <topic>.ks-out (created if missing)",
          "  --expected N               records to process before stopping (required)",
          "  --app-id ID                default eventflow-bench-ks-<timestamp>: fresh state each run; its",
          "                             internal topics and consumer group are deleted at exit",
          "  --guarantee G              exactly_once_v2 (default) or at_least_once",
          "  --state-dir DIR            default a fresh temporary directory, deleted at exit",
          "  --threads N                stream threads, default 1",
          "  --commit-interval-ms MS    default Kafka Streams' for the guarantee (100 EOS, 30000 ALOS)",
          "  --idle-timeout-s S         fail when no record arrives for S seconds, default 120");

  private static final Duration WINDOW_SIZE = Duration.ofMinutes(1);
  private static final Duration WINDOW_GRACE = Duration.ofSeconds(10);
  private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);

  /** Thread-safe once configured; shared by all stream threads. */
  private static final ObjectMapper MAPPER = new ObjectMapper();

  private StreamsReference() {}

  // ---------------------------------------------------------------------------------------------
  // Arguments

  static final class UsageException extends Exception {
    UsageException(String message) {
      super(message);
    }
  }

  static final class Options {
    String bootstrap = "127.0.0.1:9092";
    String topic;
    String output;
    long expected = -1;
    String appId;
    boolean appIdGenerated;
    String guarantee = StreamsConfig.EXACTLY_ONCE_V2;
    Path stateDir;
    boolean stateDirGenerated;
    int threads = 1;
    Long commitIntervalMs;
    long idleTimeoutSeconds = 120;

    static Options parse(String[] args) throws UsageException {
      Options o = new Options();
      for (int i = 0; i < args.length; i++) {
        String arg = args[i];
        if (arg.equals("--help") || arg.equals("-h")) throw new UsageException(null);
        if (!arg.startsWith("--")) throw new UsageException("unexpected argument: " + arg);
        String name = arg.substring(2);
        String value;
        int eq = name.indexOf('=');
        if (eq >= 0) {
          value = name.substring(eq + 1);
          name = name.substring(0, eq);
        } else {
          if (i + 1 >= args.length) throw new UsageException("missing value for --" + name);
          value = args[++i];
        }
        switch (name) {
          case "bootstrap" -> o.bootstrap = nonEmpty(name, value);
          case "topic" -> o.topic = nonEmpty(name, value);
          case "output" -> o.output = nonEmpty(name, value);
          case "expected" -> o.expected = positive(name, value);
          case "app-id" -> o.appId = nonEmpty(name, value);
          case "guarantee" -> {
            if (!value.equals(StreamsConfig.EXACTLY_ONCE_V2) && !value.equals(StreamsConfig.AT_LEAST_ONCE)) {
              throw new UsageException("--guarantee must be exactly_once_v2 or at_least_once, got: " + value);
            }
            o.guarantee = value;
          }
          case "state-dir" -> o.stateDir = Paths.get(nonEmpty(name, value));
          case "threads" -> o.threads = Math.toIntExact(positive(name, value));
          case "commit-interval-ms" -> o.commitIntervalMs = positive(name, value);
          case "idle-timeout-s" -> o.idleTimeoutSeconds = positive(name, value);
          default -> throw new UsageException("unknown option: --" + name);
        }
      }
      if (o.topic == null) throw new UsageException("--topic is required");
      if (o.expected < 0) throw new UsageException("--expected is required");
      if (o.output == null) o.output = o.topic + ".ks-out";
      if (o.output.equals(o.topic)) throw new UsageException("--output must differ from --topic");
      if (o.appId == null) {
        o.appId = "eventflow-bench-ks-" + System.currentTimeMillis();
        o.appIdGenerated = true;
      }
      return o;
    }

    private static String nonEmpty(String name, String value) throws UsageException {
      if (value.isBlank()) throw new UsageException("--" + name + " must not be empty");
      return value;
    }

    private static long positive(String name, String value) throws UsageException {
      try {
        long n = Long.parseLong(value.trim());
        if (n > 0) return n;
      } catch (NumberFormatException ignored) {
        // reported below
      }
      throw new UsageException("--" + name + " must be a positive integer, got: " + value);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Serdes and event time

  /**
   * Record value -> full Jackson tree of the CloudEvent (every value is parsed completely, the cost
   * our engine pays for JSON.parse). The parse happens once: Kafka Streams deserializes a record
   * before it asks the timestamp extractor, so {@link CloudEventTime} and the topology see the same
   * tree.
   */
  static final class CloudEventDeserializer implements Deserializer<JsonNode> {
    @Override
    public JsonNode deserialize(String topic, byte[] data) {
      if (data == null) return null;
      try {
        return MAPPER.readTree(data);
      } catch (IOException e) {
        throw new SerializationException("record value on " + topic + " is not JSON: " + e.getMessage(), e);
      }
    }
  }

  static final class JsonSerializer implements Serializer<JsonNode> {
    @Override
    public byte[] serialize(String topic, JsonNode data) {
      if (data == null) return null;
      try {
        return MAPPER.writeValueAsBytes(data);
      } catch (IOException e) {
        throw new SerializationException(e);
      }
    }
  }

  /** Event time = the CloudEvents {@code time} attribute (RFC 3339), else the record's timestamp. */
  static final class CloudEventTime implements TimestampExtractor {
    @Override
    public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
      if (record.value() instanceof JsonNode event) {
        JsonNode time = event.get("time");
        if (time != null && time.isTextual()) {
          String text = time.textValue();
          try {
            return Instant.parse(text).toEpochMilli();
          } catch (DateTimeParseException notUtc) {
            try {
              return OffsetDateTime.parse(text).toInstant().toEpochMilli();
            } catch (DateTimeParseException ignored) {
              // fall back to the record timestamp
            }
          }
        }
      }
      long ts = record.timestamp();
      // A negative timestamp would make Kafka Streams drop the record; keep it in the stream.
      return ts >= 0 ? ts : Math.max(partitionTime, 0);
    }
  }

  /** The window aggregate: count and sum(amount). Immutable. */
  static final class Agg {
    static final Agg EMPTY = new Agg(0, 0.0);
    final long count;
    final double sum;

    Agg(long count, double sum) {
      this.count = count;
      this.sum = sum;
    }

    Agg add(Double amount) {
      return new Agg(count + 1, amount == null ? sum : sum + amount);
    }
  }

  /** 16 bytes: count (long, big-endian) then sum (double). */
  static final class AggSerde implements Serde<Agg>, Serializer<Agg>, Deserializer<Agg> {
    @Override
    public byte[] serialize(String topic, Agg agg) {
      if (agg == null) return null;
      return ByteBuffer.allocate(16).putLong(agg.count).putDouble(agg.sum).array();
    }

    @Override
    public Agg deserialize(String topic, byte[] data) {
      if (data == null) return null;
      if (data.length != 16) throw new SerializationException("aggregate must be 16 bytes, got " + data.length);
      ByteBuffer buffer = ByteBuffer.wrap(data);
      return new Agg(buffer.getLong(), buffer.getDouble());
    }

    @Override
    public Serializer<Agg> serializer() {
      return this;
    }

    @Override
    public Deserializer<Agg> deserializer() {
      return this;
    }

    @Override
    public void configure(Map<String, ?> configs, boolean isKey) {}

    @Override
    public void close() {}
  }

  /** data.amount as a number; null when the event has none (counted, not summed). */
  static Double amount(JsonNode event) {
    if (event == null) return null;
    JsonNode amount = event.path("data").path("amount");
    return amount.isNumber() ? amount.doubleValue() : null;
  }

  // ---------------------------------------------------------------------------------------------
  // Progress

  /** Records seen by the topology; the times of the first and of the Nth. */
  static final class Progress {
    final long expected;
    final AtomicLong processed = new AtomicLong();
    final CountDownLatch reachedExpected = new CountDownLatch(1);
    volatile long firstNanos;
    volatile long firstEpochMillis;
    volatile long nthNanos;

    Progress(long expected) {
      this.expected = expected;
    }

    void record() {
      long n = processed.incrementAndGet();
      if (n == 1) {
        firstNanos = System.nanoTime();
        firstEpochMillis = System.currentTimeMillis();
      }
      if (n == expected) {
        nthNanos = System.nanoTime();
        reachedExpected.countDown();
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Topology

  static StreamsBuilder topology(Options options, Progress progress) {
    Serde<JsonNode> eventSerde = Serdes.serdeFrom(new JsonSerializer(), new CloudEventDeserializer());
    AggSerde aggSerde = new AggSerde();
    StreamsBuilder builder = new StreamsBuilder();
    builder.stream(
            options.topic,
            Consumed.with(Serdes.String(), eventSerde).withTimestampExtractor(new CloudEventTime()))
        // Count here: every record reaches this node once per processing (under exactly_once_v2 a
        // record could be processed again after an aborted transaction; not expected in a
        // single-instance run).
        .mapValues(
            event -> {
              progress.record();
              return amount(event);
            })
        // The aggregation key is data.key, which the producer also uses as the record key. So the
        // stream is grouped by the record key as is: groupByKey keeps the input partitioning and
        // creates no repartition topic (selectKey/groupBy on data.key would add one).
        .groupByKey(Grouped.with(Serdes.String(), Serdes.Double()))
        .windowedBy(TimeWindows.ofSizeAndGrace(WINDOW_SIZE, WINDOW_GRACE))
        // Default window store (RocksDB) with the default record cache in front of it.
        .aggregate(
            () -> Agg.EMPTY,
            (key, amount, agg) -> agg.add(amount),
            Materialized.<String, Agg, WindowStore<Bytes, byte[]>>with(Serdes.String(), aggSerde))
        .toStream()
        .to(
            options.output,
            Produced.with(
                WindowedSerdes.timeWindowedSerdeFrom(String.class, WINDOW_SIZE.toMillis()), aggSerde));
    return builder;
  }

  static Properties streamsConfig(Options options) {
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, options.appId);
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, options.bootstrap);
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, options.guarantee);
    props.put(StreamsConfig.STATE_DIR_CONFIG, options.stateDir.toString());
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, options.threads);
    if (options.commitIntervalMs != null) {
      props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, options.commitIntervalMs);
    }
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    // Kafka Streams' consumer does not leave the group on close by default; leaving lets a
    // generated app id's group be deleted right after close instead of after the session timeout.
    if (options.appIdGenerated) {
      props.put(StreamsConfig.consumerPrefix("internal.leave.group.on.close"), true);
    }
    return props;
  }

  // ---------------------------------------------------------------------------------------------
  // Admin: input check, output topic, clean-up

  static Admin admin(Options options) {
    Map<String, Object> config = new HashMap<>();
    config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, options.bootstrap);
    config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000);
    config.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 15_000);
    return Admin.create(config);
  }

  /** Fails when the input topic is missing; creates the output topic (same partitions) if needed. */
  static void prepareTopics(Admin admin, Options options) throws Exception {
    TopicDescription input;
    try {
      input = admin.describeTopics(List.of(options.topic)).allTopicNames().get(60, TimeUnit.SECONDS).get(options.topic);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof UnknownTopicOrPartitionException) {
        throw new IllegalStateException("input topic " + options.topic + " does not exist on " + options.bootstrap);
      }
      throw new IllegalStateException("cannot describe input topic " + options.topic + ": " + rootMessage(e), e);
    } catch (TimeoutException e) {
      throw new IllegalStateException("no answer from Kafka at " + options.bootstrap + " within 60 s");
    }
    int partitions = input.partitions().size();
    try {
      admin
          .createTopics(List.of(new NewTopic(options.output, Optional.of(partitions), Optional.empty())))
          .all()
          .get(60, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      if (!(e.getCause() instanceof TopicExistsException)) {
        throw new IllegalStateException("cannot create output topic " + options.output + ": " + rootMessage(e), e);
      }
    }
  }

  /** Best effort: the internal topics and the consumer group of a generated app id. */
  static void deleteAppResources(Admin admin, Options options) {
    try {
      Set<String> topics = admin.listTopics().names().get(30, TimeUnit.SECONDS);
      List<String> internal =
          topics.stream().filter(t -> t.startsWith(options.appId + "-")).collect(Collectors.toList());
      if (!internal.isEmpty()) admin.deleteTopics(internal).all().get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      warn("could not delete the internal topics of " + options.appId + ": " + rootMessage(e));
    }
    // The group empties once the member has left; retry briefly in case the leave is still in flight.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (true) {
      try {
        admin.deleteConsumerGroups(List.of(options.appId)).all().get(30, TimeUnit.SECONDS);
        return;
      } catch (ExecutionException e) {
        if (e.getCause() instanceof GroupIdNotFoundException) return; // never joined (early failure)
        if (System.nanoTime() > deadline) {
          warn("could not delete consumer group " + options.appId + ": " + rootMessage(e));
          return;
        }
        sleep(500);
      } catch (Exception e) {
        if (System.nanoTime() > deadline) {
          warn("could not delete consumer group " + options.appId + ": " + rootMessage(e));
          return;
        }
        sleep(500);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Main

  public static void main(String[] args) {
    Options options;
    try {
      options = Options.parse(args);
    } catch (UsageException e) {
      if (e.getMessage() == null) {
        System.out.println(USAGE);
        System.exit(0);
      }
      System.err.println("StreamsReference: " + e.getMessage());
      System.err.println(USAGE);
      System.exit(2);
      return;
    }
    System.exit(run(options));
  }

  static int run(Options options) {
    long processStartMillis = processStartMillis();
    try {
      if (options.stateDir == null) {
        options.stateDir = Files.createTempDirectory("eventflow-bench-ks-");
        options.stateDirGenerated = true;
      }
    } catch (IOException e) {
      warn("cannot create a temporary state directory: " + e.getMessage());
      return 1;
    }

    Admin admin = null;
    KafkaStreams streams = null;
    AtomicBoolean cleanedUp = new AtomicBoolean();
    AtomicReference<KafkaStreams> streamsRef = new AtomicReference<>();
    // Ctrl-C / SIGTERM: still close the app and delete the temporary state directory.
    Thread hook =
        new Thread(() -> cleanUp(streamsRef.get(), options, cleanedUp), "streams-reference-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      admin = admin(options);
      prepareTopics(admin, options);

      Progress progress = new Progress(options.expected);
      AtomicReference<Throwable> failure = new AtomicReference<>();
      streams = new KafkaStreams(topology(options, progress).build(), streamsConfig(options));
      streamsRef.set(streams);
      streams.setUncaughtExceptionHandler(
          e -> {
            failure.compareAndSet(null, e);
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
          });
      streams.start();

      long idleNanos = TimeUnit.SECONDS.toNanos(options.idleTimeoutSeconds);
      long lastCount = 0;
      long lastChange = System.nanoTime();
      while (!progress.reachedExpected.await(200, TimeUnit.MILLISECONDS)) {
        Throwable failed = failure.get();
        if (failed != null) throw new IllegalStateException("Kafka Streams failed: " + describe(failed), failed);
        KafkaStreams.State state = streams.state();
        if (state == KafkaStreams.State.ERROR
            || state == KafkaStreams.State.PENDING_ERROR
            || state == KafkaStreams.State.NOT_RUNNING
            || state == KafkaStreams.State.PENDING_SHUTDOWN) {
          throw new IllegalStateException("Kafka Streams stopped (state " + state + ") before " + options.expected + " records");
        }
        long count = progress.processed.get();
        long now = System.nanoTime();
        if (count != lastCount) {
          lastCount = count;
          lastChange = now;
        } else if (now - lastChange > idleNanos) {
          throw new IllegalStateException(
              count == 0
                  ? "no record arrived from " + options.topic + " within " + options.idleTimeoutSeconds + " s"
                  : "no record for " + options.idleTimeoutSeconds + " s after " + count + " of "
                      + options.expected + " expected records from " + options.topic);
        }
      }

      double seconds = (progress.nthNanos - progress.firstNanos) / 1e9;
      ObjectNode result = MAPPER.createObjectNode();
      result.put("records", options.expected);
      result.put("seconds", seconds);
      result.put("eventsPerSecond", seconds > 0 ? options.expected / seconds : 0.0);
      result.put("startupSeconds", (progress.firstEpochMillis - processStartMillis) / 1e3);
      result.put("guarantee", options.guarantee);
      System.out.println(MAPPER.writeValueAsString(result));
      System.out.flush();
      reportDroppedRecords(streams);
      return 0;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      warn("interrupted");
      return 1;
    } catch (Exception e) {
      warn(e.getMessage() != null ? e.getMessage() : e.toString());
      return 1;
    } finally {
      cleanUp(streams, options, cleanedUp);
      if (admin != null) {
        if (options.appIdGenerated) deleteAppResources(admin, options);
        admin.close(Duration.ofSeconds(10));
      }
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException alreadyShuttingDown) {
        // the hook runs anyway
      }
    }
  }

  /** Warns about records Kafka Streams skipped (later than the window's grace), if any. */
  static void reportDroppedRecords(KafkaStreams streams) {
    double dropped = 0;
    for (Map.Entry<MetricName, ? extends Metric> e : streams.metrics().entrySet()) {
      MetricName name = e.getKey();
      if (name.name().equals("dropped-records-total") && name.group().equals("stream-task-metrics")) {
        Object value = e.getValue().metricValue();
        if (value instanceof Number n && !Double.isNaN(n.doubleValue())) dropped += n.doubleValue();
      }
    }
    if (dropped > 0) {
      warn("Kafka Streams dropped " + (long) dropped + " records (later than the window's grace period)");
    }
  }

  /** Closes the app (bounded) and removes its local state; runs once. */
  static void cleanUp(KafkaStreams streams, Options options, AtomicBoolean done) {
    if (!done.compareAndSet(false, true)) return;
    if (streams != null) {
      if (!streams.close(CLOSE_TIMEOUT)) {
        warn("Kafka Streams did not close within " + CLOSE_TIMEOUT.toSeconds() + " s");
      } else {
        try {
          streams.cleanUp();
        } catch (RuntimeException e) {
          warn("could not clean up the local state: " + e.getMessage());
        }
      }
    }
    if (options.stateDirGenerated && options.stateDir != null) deleteRecursively(options.stateDir);
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  static long processStartMillis() {
    return ProcessHandle.current()
        .info()
        .startInstant()
        .map(Instant::toEpochMilli)
        .orElseGet(() -> ManagementFactory.getRuntimeMXBean().getStartTime());
  }

  static void deleteRecursively(Path root) {
    if (!Files.exists(root)) return;
    try (Stream<Path> paths = Files.walk(root)) {
      List<Path> all = new ArrayList<>(paths.sorted(Comparator.reverseOrder()).toList());
      for (Path path : all) Files.deleteIfExists(path);
    } catch (IOException | UncheckedIOException e) {
      warn("could not delete state directory " + root + ": " + e.getMessage());
    }
  }

  static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getCause() != t) t = t.getCause();
    return t.getMessage() != null ? t.getMessage() : t.toString();
  }

  static String describe(Throwable e) {
    StringBuilder out = new StringBuilder(e.toString());
    for (Throwable t = e.getCause(); t != null && t != t.getCause(); t = t.getCause()) {
      out.append("\n  caused by: ").append(t);
    }
    return out.toString();
  }

  static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  static void warn(String message) {
    System.err.println("StreamsReference: " + message);
  }
}
