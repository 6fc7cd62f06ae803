import Crdkafka
import Foundation
public import Logging

/// An idempotent producer (`enable.idempotence=true`, `acks=all`) whose deliveries can be
/// awaited: `send` returns only once the broker has acknowledged the record.
public final class KafkaProducer: Sendable {
    // Teardown order: `poller` must stop before `handle` is destroyed (see deinit).
    private let handle: RDKafkaHandle
    private let poller: PollThread
    private let blocking = BlockingQueue(label: "cashier.kafka.producer")

    public init(configuration: KafkaConfiguration, logger: Logger) throws(KafkaError) {
        try configuration.validate()
        let defaults: [(key: String, value: String)] = [
            ("bootstrap.servers", configuration.bootstrapServers),
            ("client.id", configuration.clientID),
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", "2"),
            ("message.timeout.ms", "30000"),
            ("queue.buffering.max.messages", "200000"),
        ]
        let handle = try RDKafkaConf.client(RD_KAFKA_PRODUCER, defaults + configuration.options, context: ClientContext(logger: logger)) {
            rd_kafka_conf_set_dr_msg_cb($0, deliveryReport)
        }
        self.handle = handle
        // Serves delivery reports and logs until the producer is released.
        self.poller = PollThread(name: "cashier.kafka.producer.poll") { rd_kafka_poll(handle.pointer, 100) }
    }

    deinit {
        // Stored properties are released after this body, so the handle outlives the poller.
        poller.stop()
        // Records still queued would never get a delivery report once the poll thread is gone,
        // and each report releases its promise: purge them and serve their (failed) reports.
        let pointer = handle.pointer
        rd_kafka_purge(pointer, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
        rd_kafka_poll(pointer, 0)
    }

    /// Sends one record and waits for the broker's acknowledgement.
    @discardableResult
    public func send(_ message: OutgoingMessage) async throws(KafkaError) -> DeliveryReport {
        let promise = DeliveryPromise()
        try await enqueueWaitingForRoom(message, promise: promise)
        return try await promise.value()
    }

    /// Sends records keeping their order, then waits for every acknowledgement; the results
    /// are in the order of `messages`.
    ///
    /// Each record is handed to librdkafka only after the one before it, so records of one key
    /// (one partition) are queued in the given order, and the idempotent producer keeps that
    /// order on the broker, retries included. A record whose topic and key already failed to
    /// enqueue in this call is not enqueued (its result is a failure): it must not overtake the
    /// one that failed. A record that could not be delivered does not stop later ones of its key
    /// already queued; callers that need strict order per key resend from the first failure.
    public func sendInOrder(_ messages: [OutgoingMessage]) async -> [Result<DeliveryReport, KafkaError>] {
        struct Stream: Hashable {
            let topic: String
            let key: [UInt8]?
        }
        var pending: [Result<DeliveryPromise, KafkaError>] = []
        pending.reserveCapacity(messages.count)
        var refused: [Stream: KafkaError] = [:]
        for message in messages {
            let stream = Stream(topic: message.topic, key: message.key)
            if let earlier = refused[stream] {
                pending.append(.failure(KafkaError(.produce, "not enqueued after an earlier record of the same key failed (\(earlier.message))", isRetryable: earlier.isRetryable)))
                continue
            }
            let promise = DeliveryPromise()
            do throws(KafkaError) {
                try await enqueueWaitingForRoom(message, promise: promise)
                pending.append(.success(promise))
            } catch {
                refused[stream] = error
                pending.append(.failure(error))
            }
        }
        var results: [Result<DeliveryReport, KafkaError>] = []
        results.reserveCapacity(pending.count)
        for entry in pending {
            switch entry {
            case .success(let promise):
                do throws(KafkaError) { results.append(.success(try await promise.value())) } catch { results.append(.failure(error)) }
            case .failure(let error):
                results.append(.failure(error))
            }
        }
        return results
    }

    /// Hands one record to librdkafka, waiting while its local queue is full; `promise` is
    /// completed by the delivery report.
    private func enqueueWaitingForRoom(_ message: OutgoingMessage, promise: DeliveryPromise) async throws(KafkaError) {
        var backoff = 0
        while true {
            let opaque = Unmanaged.passRetained(promise)
            let error = enqueue(message, opaque: opaque.toOpaque())
            if error == RD_KAFKA_RESP_ERR_NO_ERROR { return }
            opaque.release()
            guard error == RD_KAFKA_RESP_ERR__QUEUE_FULL, backoff < 1_000 else {
                throw KafkaError(.produce, "cannot enqueue record for \(message.topic)", error: error)
            }
            // The local queue drains as the poll thread serves acknowledgements.
            backoff += 1
            do {
                try await Task.sleep(for: .milliseconds(5))
            } catch {
                throw KafkaError(.cancelled, "stopped waiting for room in the local queue (task cancelled); record for \(message.topic) not enqueued")
            }
        }
    }

    private func enqueue(_ message: OutgoingMessage, opaque: UnsafeMutableRawPointer) -> rd_kafka_resp_err_t {
        var headers: OpaquePointer? = nil
        if !message.headers.isEmpty {
            headers = rd_kafka_headers_new(message.headers.count)
            for header in message.headers {
                if let value = header.value {
                    value.withUnsafeBytes { _ = rd_kafka_header_add(headers, header.name, -1, $0.baseAddress, $0.count) }
                } else {
                    _ = rd_kafka_header_add(headers, header.name, -1, nil, 0)
                }
            }
        }
        let error = message.value.withUnsafeBytes { value in
            if let key = message.key {
                return key.withUnsafeBytes { key in
                    cashier_produce(handle.pointer, message.topic, key.baseAddress, key.count, value.baseAddress, value.count, headers, opaque)
                }
            }
            return cashier_produce(handle.pointer, message.topic, nil, 0, value.baseAddress, value.count, headers, opaque)
        }
        // On failure librdkafka did not take the headers.
        if error != RD_KAFKA_RESP_ERR_NO_ERROR, let headers { rd_kafka_headers_destroy(headers) }
        return error
    }

    /// Waits until every queued record is acknowledged, or the timeout passes.
    public func flush(timeout: Duration = .seconds(10)) async throws(KafkaError) {
        let handle = self.handle
        let milliseconds = timeout.rdKafkaTimeoutMilliseconds
        try await blocking.run { () throws(KafkaError) in
            let pointer = handle.pointer
            let error = rd_kafka_flush(pointer, milliseconds)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(.delivery, "flush did not finish", error: error) }
        }
    }

    /// Number of partitions of `topic`, from the cluster's metadata.
    public func partitionCount(topic: String, timeout: Duration = .seconds(10)) async throws(KafkaError) -> Int {
        let handle = self.handle
        return try await blocking.run { () throws(KafkaError) in try Metadata.partitionCount(handle.pointer, topic: topic, timeout: timeout) }
    }
}


/// librdkafka calls this on the poll thread once per record, with the opaque given to produce.
private let deliveryReport: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
    _, message, _ in
    guard let message, let opaque = message.pointee._private else { return }
    let promise = Unmanaged<DeliveryPromise>.fromOpaque(opaque).takeRetainedValue()
    let error = message.pointee.err
    if error == RD_KAFKA_RESP_ERR_NO_ERROR {
        promise.complete(.success(DeliveryReport(partition: message.pointee.partition, offset: message.pointee.offset)))
    } else {
        promise.complete(.failure(KafkaError(.delivery, "record not delivered", error: error)))
    }
}
