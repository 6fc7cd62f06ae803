public import AsyncHTTPClient
import NIOCore
public import NIOHTTP1

extension ChannelHTTP {
    /// A channel's complete answer: its status, headers and the whole body.
    public struct Answer: Sendable {
        public let status: Int
        public let headers: HTTPHeaders
        public let body: [UInt8]
    }

    /// One channel call under one deadline covering connect, send, the answer's head and its
    /// whole body (DESIGN.md §6), on the shared keep-alive pool.
    ///
    /// At the deadline the request is cancelled and this throws
    /// `ChannelHTTPError.deadlineExceeded` (or the client's own error, when it ends within a
    /// short grace) even if the client is slow to honour the cancellation: an answer that sends
    /// its head and half its body and then goes silent cannot hold the caller.
    /// Classify a thrown error with `transportOutcome(_:channel:)`.
    public static func exchange(_ client: HTTPClient, _ request: HTTPClientRequest, timeout: Duration, maxBody: Int) async throws -> Answer {
        // The client gets the same deadline for what it bounds itself (connection and head);
        // the race below bounds the body too.
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        do {
            return try await withDeadline(timeout) {
                let response = try await client.execute(request, deadline: deadline)
                var body = try await response.body.collect(upTo: maxBody)
                return Answer(status: Int(response.status.code), headers: response.headers, body: body.readBytes(length: body.readableBytes) ?? [])
            }
        } catch let error where !Task.isCancelled && (error is CancellationError || (error as? HTTPClientError) == .cancelled) {
            // While the caller runs, only the deadline cancels the exchange: the client's
            // answer to that cancellation is the deadline's error.
            throw ChannelHTTPError.deadlineExceeded(after: timeout)
        }
    }
}
