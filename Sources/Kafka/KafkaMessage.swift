/// A record read from Kafka, copied out of librdkafka's buffers.
public struct KafkaMessage: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [KafkaHeader]
    /// The record's timestamp (producer create time unless the topic says otherwise), in
    /// milliseconds since the epoch; nil when the broker has none.
    public var timestampMilliseconds: Int64?
    /// The consumer's rebalance epoch when librdkafka returned this record (see
    /// `RebalanceEvent`): records fetched under an assignment that has since been revoked carry
    /// an epoch older than the partition's current assignment. 0 before any rebalance, and for
    /// consumers outside a group.
    public var rebalanceEpoch: Int

    public init(
        topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = [],
        timestampMilliseconds: Int64? = nil, rebalanceEpoch: Int = 0
    ) {
        self.timestampMilliseconds = timestampMilliseconds
        self.rebalanceEpoch = rebalanceEpoch
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
    }

    /// The first header with this name, as UTF-8 text.
    public func header(_ name: String) -> String? {
        headers.first(where: { $0.name == name }).flatMap { $0.value.map { String(decoding: $0, as: UTF8.self) } }
    }
}

public struct KafkaHeader: Sendable, Equatable {
    public var name: String
    public var value: [UInt8]?

    public init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
    }

    public init(name: String, text: String) {
        self.init(name: name, value: Array(text.utf8))
    }
}

/// A record to send.
public struct OutgoingMessage: Sendable {
    public var topic: String
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [KafkaHeader]

    public init(topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = []) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
    }
}

/// A partition of a topic, and an offset in it when one is meant.
public struct TopicPartition: Sendable, Hashable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }
}
