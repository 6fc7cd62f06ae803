#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@testable import Kafka
import Testing

/// The dev broker's connections run without Nagle's algorithm (see `ListenerNoDelay`): with it,
/// a second produce response in flight waited ~40 ms for the client's delayed acknowledgement.
@Suite struct DevBrokerNoDelayTests {
    @Test func aConnectionTheDevBrokerAcceptsHasTCPNoDelay() async throws {
        let log = LogCapture()
        let broker = try DevBroker(partitions: 1, topics: ["t"], logger: log.logger)
        defer { withExtendedLifetime(broker) {} }
        #expect(!log.messages.contains { $0.contains("TCP_NODELAY") })
        let port = try #require(ListenerNoDelay.port(ofBootstrap: broker.bootstrapServers))

        // A plain TCP client: the broker's side of this connection is what is checked.
        let client = socket(AF_INET, ListenerNoDelay.streamSocket, 0)
        try #require(client >= 0)
        defer { close(client) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        let clientPort = try #require(ListenerNoDelay.boundPort(of: client))

        // The mock cluster accepts on its own thread: wait for its end of the connection.
        var accepted: [Int32] = []
        for _ in 0..<100 where accepted.isEmpty {
            accepted = ListenerNoDelay.openDescriptors().filter {
                ListenerNoDelay.boundPort(of: $0) == port && ListenerNoDelay.boundPort(of: $0, peer: true) == clientPort
            }
            if accepted.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(!accepted.isEmpty, "the broker never accepted the connection")
        #expect(accepted.count == 1)
        for descriptor in accepted { #expect(ListenerNoDelay.isSet(on: descriptor), "fd \(descriptor) accepted without TCP_NODELAY") }
    }

    /// Taken down, the mock cluster opens a new listening socket on the same port.
    @Test func aConnectionAcceptedAfterAnOutageHasTCPNoDelayToo() async throws {
        let broker = try DevBroker(partitions: 1, topics: ["t"], logger: LogCapture().logger)
        defer { withExtendedLifetime(broker) {} }
        let port = try #require(ListenerNoDelay.port(ofBootstrap: broker.bootstrapServers))
        broker.setBroker(up: false)
        broker.setBroker(up: true)
        let listeners = ListenerNoDelay.openDescriptors().filter { ListenerNoDelay.isListening($0) && ListenerNoDelay.boundPort(of: $0) == port }
        #expect(listeners.count == 1)
        for descriptor in listeners { #expect(ListenerNoDelay.isSet(on: descriptor)) }
    }

    @Test func theBootstrapPortIsTheLastColonsSuffix() {
        #expect(ListenerNoDelay.port(ofBootstrap: "127.0.0.1:9092") == 9092)
        #expect(ListenerNoDelay.port(ofBootstrap: "a:1,[::1]:29092") == 29092)
        #expect(ListenerNoDelay.port(ofBootstrap: "no-port") == nil)
    }
}
