#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The dev broker answers without Nagle's algorithm, as a real broker does.
///
/// librdkafka's mock cluster leaves Nagle on for the connections it accepts. With several
/// produce requests in flight on one connection, the response to the second then waits until
/// the client acknowledges the first, and the client delays that acknowledgement (40 ms on
/// Linux). Measured against the mock cluster, batches of 37 records over 12 partitions (the
/// outbox relay's batch at 1,000 orders/s) had a p90 delivery time of 45 ms; with TCP_NODELAY
/// on the broker's side, 2.9 ms. Kafka's own broker sets TCP_NODELAY on every connection, so
/// this makes the dev broker more like production, not less.
///
/// The option is set on the listening socket (on Linux the connections it accepts inherit it)
/// and on the connections already accepted (the host client's own, opened as the cluster
/// started).
enum ListenerNoDelay {
    /// Sets TCP_NODELAY on this process's TCP sockets bound to `port`; whether the listening
    /// one was among them.
    static func set(onListenerAt port: UInt16) -> Bool {
        var listenerSet = false
        for descriptor in openDescriptors() where isTCP(descriptor) && boundPort(of: descriptor) == port {
            var one: Int32 = 1
            let done = setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) == 0
            if done, isListening(descriptor) { listenerSet = true }
        }
        return listenerSet
    }

    /// Whether TCP_NODELAY is set on `descriptor` (for tests).
    static func isSet(on descriptor: Int32) -> Bool {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &value, &length) == 0 && value != 0
    }

    /// The port of the `HOST:PORT` (or `[V6]:PORT`) that ends a bootstrap list.
    static func port(ofBootstrap servers: String) -> UInt16? {
        guard let last = servers.split(separator: ",").last, let colon = last.lastIndex(of: ":") else { return nil }
        return UInt16(last[last.index(after: colon)...])
    }

    static func openDescriptors() -> [Int32] {
        // sysconf answers -1 for "no limit"; a huge limit is cut to what a scan can afford.
        let limit = Int32(min(max(sysconf(Int32(_SC_OPEN_MAX)), 1024), 65_536))
        return (0..<limit).filter { fcntl($0, F_GETFD) != -1 }
    }

    static func isTCP(_ descriptor: Int32) -> Bool {
        var type: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(descriptor, SOL_SOCKET, SO_TYPE, &type, &length) == 0 && type == streamSocket
    }

    #if os(Linux)
    static let streamSocket = Int32(SOCK_STREAM.rawValue)
    #else
    static let streamSocket = SOCK_STREAM
    #endif

    static func isListening(_ descriptor: Int32) -> Bool {
        var accepting: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(descriptor, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0 && accepting != 0
    }

    /// The local (or, with `peer`, the remote) TCP port of a socket; nil for anything that is
    /// not a bound IPv4 or IPv6 socket.
    static func boundPort(of descriptor: Int32, peer: Bool = false) -> UInt16? {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { peer ? getpeername(descriptor, $0, &length) : getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else { return nil }
        switch Int32(address.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) } }
        case AF_INET6:
            return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) } }
        default:
            return nil
        }
    }
}
