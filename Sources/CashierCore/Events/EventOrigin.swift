/// Where a consumed record came from, plus a digest of its bytes.
///
/// Coordinates alone do not identify a record for ever: a topic recreated (or a dev broker
/// restarted) hands out the same offsets again. The digest keeps a new record at old
/// coordinates from being mistaken for one already processed; a true redelivery has the same
/// bytes and so the same digest.
public struct EventOrigin: Sendable, Hashable {
    public let topic: String
    public let partition: Int32
    public let offset: Int64
    /// Hex SHA-256 of the record value.
    public let digest: String

    public init(topic: String, partition: Int32, offset: Int64, value: some Collection<UInt8>) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.digest = SHA256Hex.of(value)
    }

    public init(topic: String, partition: Int32, offset: Int64, digest: String) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.digest = digest
    }

    /// The coordinates as they appear in result events (`"source"`).
    public var source: ResultEvent.Source { ResultEvent.Source(topic: topic, partition: partition, offset: offset) }
}
