import Dispatch
import Foundation

/// Suspends until SIGINT or SIGTERM, for commands that simply run until told to stop.
enum Signals {
    static func waitForTermination() async {
        let (signals, arrived) = AsyncStream<Void>.makeStream()
        let queue = DispatchQueue(label: "cashier.signals")
        let sources = [SIGINT, SIGTERM].map { signalNumber in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler { arrived.yield() }
            source.resume()
            return source
        }
        for await _ in signals { break }
        // Later signals stay ignored: the command is already stopping.
        withExtendedLifetime(sources) {}
    }
}
