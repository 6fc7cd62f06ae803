import HTTPTypes
import Hummingbird
import NIOCore

/// An answer that stops midway (`pm_sandbox_stall`): the status line, the headers with the
/// whole body's `Content-Length`, and half the body; then silence until the client goes away
/// or `hold` passes, and the connection is closed with the body unfinished. A client without a
/// deadline on the whole exchange waits for ever.
enum StalledAnswer {
    struct Unfinished: Error {}

    static func response(status: Int, body: String, headers: HTTPFields, hold: Duration, channel: any Channel) -> Response {
        let whole = ByteBuffer(string: body)
        let half = whole.getSlice(at: whole.readerIndex, length: whole.readableBytes / 2) ?? whole
        return Response(
            status: .init(code: status), headers: headers,
            body: ResponseBody(contentLength: whole.readableBytes) { writer in
                try await writer.write(half)
                await holdOpen(channel, atMost: hold)
                // Never finished: throwing makes the server close the connection.
                throw Unfinished()
            })
    }

    /// Returns when the client has gone away, `hold` has passed, or the server stops.
    static func holdOpen(_ channel: any Channel, atMost hold: Duration) async {
        let gone = channel.eventLoop.makePromise(of: Void.self)
        // The server allows half-closure, so a client's close arrives as `inputClosed` rather
        // than as the channel closing; a handler at the head of the pipeline sees it.
        let watched = channel.eventLoop.submit {
            try channel.pipeline.syncOperations.addHandler(ClientGoneHandler(gone: gone), position: .first)
        }
        guard (try? await watched.get()) != nil else {
            gone.succeed()  // never leave a promise unfulfilled
            return
        }
        let timer = Task {
            guard (try? await Task.sleep(for: hold)) != nil else { return }
            gone.succeed()
        }
        await withTaskCancellationHandler {
            try? await gone.futureResult.get()
        } onCancel: {
            gone.succeed()
        }
        timer.cancel()
    }
}

/// Fulfils `gone` when the client closes its side of the connection or the connection ends.
private final class ClientGoneHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let gone: EventLoopPromise<Void>

    init(gone: EventLoopPromise<Void>) { self.gone = gone }

    func handlerAdded(context: ChannelHandlerContext) {
        if !context.channel.isActive { gone.succeed() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent { gone.succeed() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        gone.succeed()
        context.fireChannelInactive()
    }
}
