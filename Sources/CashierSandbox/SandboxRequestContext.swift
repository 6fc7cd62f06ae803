import Hummingbird
import NIOCore

/// The sandbox's request context: the basic one plus the connection, so that a handler holding
/// an answer open can tell when the client goes away.
struct SandboxRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
