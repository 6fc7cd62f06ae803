import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A local OTLP/HTTP trace receiver: accepts `POST /v1/traces` in swift-otel's default
/// encoding (protobuf) and keeps the spans. Decodes only what the tests look at.
final class OTLPReceiver: Sendable {
    struct ReceivedSpan: Sendable, Equatable {
        var traceID = ""
        var spanID = ""
        var parentSpanID = ""
        var name = ""
        var startNanoseconds: UInt64 = 0
        var attributes: [String: String] = [:]
    }

    let url: String
    private let received: Store
    private let server: Task<Void, any Error>

    private init(url: String, received: Store, server: Task<Void, any Error>) {
        self.url = url
        self.received = received
        self.server = server
    }

    /// The spans received so far of one trace (lowercase hex id).
    func spans(ofTrace traceID: String) -> [ReceivedSpan] {
        received.spans.withLock { $0.filter { $0.traceID == traceID } }
    }

    func stop() { server.cancel() }

    static func start() async throws -> OTLPReceiver {
        let store = Store()
        let router = Router()
        router.post("/v1/traces") { request, _ -> Response in
            var body = try await request.body.collect(upTo: 16 << 20)
            let bytes = body.readBytes(length: body.readableBytes) ?? []
            let spans = try Self.decode(bytes[...])
            store.spans.withLock { $0.append(contentsOf: spans) }
            // An empty ExportTraceServiceResponse: full success.
            return Response(status: .ok, headers: [.contentType: "application/x-protobuf"], body: .init(byteBuffer: ByteBuffer()))
        }
        let (ports, portsContinuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "otlp-receiver")
        logger.logLevel = .critical  // its shutdown, cancelled by the test, is not news
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portsContinuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger)
        let server = Task { try await app.runService(gracefulShutdownSignals: []) }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw TestFailure("the OTLP receiver did not start") }
        return OTLPReceiver(url: "http://127.0.0.1:\(port)", received: store, server: server)
    }

    private final class Store: Sendable {
        let spans = Mutex<[ReceivedSpan]>([])
    }

    // MARK: Protobuf, the little that is needed

    /// ExportTraceServiceRequest: resource_spans (1) → scope_spans (2) → spans (2).
    static func decode(_ request: ArraySlice<UInt8>) throws -> [ReceivedSpan] {
        var spans: [ReceivedSpan] = []
        for case (1, .bytes(let resourceSpans)) in try fields(request) {
            for case (2, .bytes(let scopeSpans)) in try fields(resourceSpans) {
                for case (2, .bytes(let span)) in try fields(scopeSpans) { spans.append(try decodeSpan(span)) }
            }
        }
        return spans
    }

    /// Span: trace_id 1, span_id 2, parent_span_id 4, name 5, start_time_unix_nano 7,
    /// attributes 9 (KeyValue: key 1, value 2 → AnyValue: string 1, bool 2, int 3).
    static func decodeSpan(_ bytes: ArraySlice<UInt8>) throws -> ReceivedSpan {
        var span = ReceivedSpan()
        for field in try fields(bytes) {
            switch field {
            case (1, .bytes(let id)): span.traceID = hex(id)
            case (2, .bytes(let id)): span.spanID = hex(id)
            case (4, .bytes(let id)): span.parentSpanID = hex(id)
            case (5, .bytes(let name)): span.name = String(decoding: name, as: UTF8.self)
            case (7, .fixed(let nanoseconds)): span.startNanoseconds = nanoseconds
            case (9, .bytes(let keyValue)):
                var key = ""
                var value = ""
                for part in try fields(keyValue) {
                    switch part {
                    case (1, .bytes(let text)): key = String(decoding: text, as: UTF8.self)
                    case (2, .bytes(let any)):
                        for inner in try fields(any) {
                            switch inner {
                            case (1, .bytes(let text)): value = String(decoding: text, as: UTF8.self)
                            case (2, .varint(let flag)): value = flag == 0 ? "false" : "true"
                            case (3, .varint(let number)): value = String(Int64(bitPattern: number))
                            default: break
                            }
                        }
                    default: break
                    }
                }
                span.attributes[key] = value
            default: break
            }
        }
        return span
    }

    enum Field { case varint(UInt64), fixed(UInt64), bytes(ArraySlice<UInt8>) }

    static func fields(_ bytes: ArraySlice<UInt8>) throws -> [(Int, Field)] {
        var rest = bytes
        var fields: [(Int, Field)] = []
        while !rest.isEmpty {
            let tag = try varint(&rest)
            let number = Int(tag >> 3)
            switch tag & 7 {
            case 0: fields.append((number, .varint(try varint(&rest))))
            case 1: fields.append((number, .fixed(try fixed(&rest, 8))))
            case 5: fields.append((number, .fixed(try fixed(&rest, 4))))
            case 2:
                let length = Int(try varint(&rest))
                guard length <= rest.count else { throw TestFailure("truncated protobuf field \(number)") }
                fields.append((number, .bytes(rest.prefix(length))))
                rest = rest.dropFirst(length)
            default: throw TestFailure("unexpected protobuf wire type \(tag & 7)")
            }
        }
        return fields
    }

    private static func varint(_ bytes: inout ArraySlice<UInt8>) throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = bytes.popFirst() {
            value |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return value }
            shift += 7
            guard shift < 64 else { break }
        }
        throw TestFailure("malformed protobuf varint")
    }

    private static func fixed(_ bytes: inout ArraySlice<UInt8>, _ width: Int) throws -> UInt64 {
        guard bytes.count >= width else { throw TestFailure("truncated protobuf fixed field") }
        var value: UInt64 = 0
        for (index, byte) in bytes.prefix(width).enumerated() { value |= UInt64(byte) << (8 * UInt64(index)) }
        bytes = bytes.dropFirst(width)
        return value
    }

    private static func hex(_ bytes: ArraySlice<UInt8>) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
}
