import CashierStore
import Logging
import Synchronization

/// Keeps the leases of the payments this process holds alive: one statement for all of them,
/// every third of the lease. A lease that could not be renewed (Postgres away for longer than
/// a lease, or taken over) lapses, another process takes the payment over, and this one's late
/// writes are refused by the fencing in the store (a success it learns is still recorded).
final class LeaseKeeper: Sendable {
    private let held = Mutex<[String: String]>([:])
    private let store: PaymentStore
    private let logger: Logger

    init(store: PaymentStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    func hold(_ ticket: PaymentTicket) { held.withLock { $0[ticket.paymentID] = ticket.lease } }
    func release(_ ticket: PaymentTicket) {
        held.withLock { held in if held[ticket.paymentID] == ticket.lease { held[ticket.paymentID] = nil } }
    }

    /// Renews until cancelled.
    func run() async {
        let period = store.leaseDuration / 3
        while !Task.isCancelled {
            try? await Task.sleep(for: period)
            let leases = held.withLock { $0.map { (paymentID: $0.key, lease: $0.value) } }
            guard !leases.isEmpty else { continue }
            do {
                let lost = try await store.renew(leases)
                // Settled meanwhile (the common case at the end of a call) or taken over.
                if !lost.isEmpty { logger.debug("\(lost.count) leases no longer held") }
            } catch {
                logger.warning("lease renewal failed; leases may lapse: \(StoreError.describe(error))")
            }
        }
    }
}
