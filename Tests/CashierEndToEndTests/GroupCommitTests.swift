import CashierCore
import CashierStore
import Foundation
import Logging
import PostgresNIO
import Testing

/// The group commits of the hot path against a real Postgres: writes made at the same moment
/// share statements, each keeps its own fencing, and one bad row fails alone.
///
/// Rows written by one transaction share its id (`xmin`), so the number of distinct `xmin`s
/// among the rows is the number of commits that wrote them.
@Suite(.serialized, .enabled(if: Pipeline.isAvailable, "needs CASHIER_TEST_DATABASE_URL (run `make test`)"))
struct GroupCommitTests {
    let run = UUID().uuidString.prefix(8).lowercased()

    @Test func newOrdersAcceptedTogetherShareCommits() async throws {
        try await withStore { store, db async throws in
            let orders = (0..<200).map { order("accept_\($0)") }
            let acceptances = try await accept(orders, on: store)
            #expect(acceptances.allSatisfy { if case .charge(let ticket) = $0 { ticket.attemptOpen && ticket.attempt == 1 } else { false } })
            #expect(try await count("SELECT count(*) FROM payments", db) == 200)
            #expect(try await count("SELECT count(*) FROM payment_attempts WHERE attempt_no = 1 AND finished_at IS NULL", db) == 200)
            #expect(try await count("SELECT count(*) FROM inbox WHERE disposition = 'accepted'", db) == 200)
            let commits = try await count("SELECT count(DISTINCT xmin::text) FROM payments", db)
            #expect(commits < 50, "200 orders accepted at once took \(commits) commits")

            // The same events again: every one is a duplicate of its held payment, none a new charge.
            let again = try await accept(orders, on: store)
            #expect(again.allSatisfy { if case .duplicate(.processing) = $0 { true } else { false } })
        }
    }

    @Test func oneBadRowFailsAloneAndItsNeighboursAreCommitted() async throws {
        try await withStore { store, db async throws in
            // A NUL cannot be stored in a text column (the decoder refuses it; the store must
            // still not let it take its batch down with it).
            var orders = (0..<60).map { order("bad_\($0)") }
            orders[17].userID = "u_\u{0}"
            let outcomes = await withTaskGroup(of: (Int, Result<Acceptance, any Error>).self) { group in
                for (index, order) in orders.enumerated() {
                    group.addTask {
                        do { return (index, .success(try await store.accept(order, origin: origin(index), openAttempt: true))) }
                        catch { return (index, .failure(error)) }
                    }
                }
                var outcomes = [Int: Result<Acceptance, any Error>]()
                for await (index, outcome) in group { outcomes[index] = outcome }
                return outcomes
            }
            for (index, outcome) in outcomes {
                switch outcome {
                case .success(.charge): #expect(index != 17)
                case .failure(let error):
                    #expect(index == 17)
                    #expect(!StoreError.classify(error).isRetryable, "\(error)")
                default: Issue.record("order \(index): \(outcome)")
                }
            }
            #expect(try await count("SELECT count(*) FROM payments", db) == 59)
        }
    }

    @Test func outcomesSettledTogetherKeepTheirFencing() async throws {
        try await withStore { store, db async throws in
            let orders = (0..<120).map { order("settle_\($0)") }
            let tickets = try await accept(orders, on: store).map { acceptance -> PaymentTicket in
                guard case .charge(let ticket) = acceptance else { fatalError("\(acceptance)") }
                return ticket
            }
            // Every tenth writer lost its lease: it must be refused, the others settle.
            let moved = await withTaskGroup(of: (Int, Bool).self) { group in
                for (index, ticket) in tickets.enumerated() {
                    group.addTask {
                        let writer = index % 10 == 0 ? ticket.withLease("someone-else") : ticket
                        let reference = "ch_\(index)"
                        let change = PaymentChange(
                            PaymentLifecycle.succeed, outcome: .succeeded(reference: reference), reference: reference,
                            result: result(writer, reference: reference))
                        return (index, (try? await store.move(writer, change)) ?? false)
                    }
                }
                var moved = [Int: Bool]()
                for await (index, ok) in group { moved[index] = ok }
                return moved
            }
            for (index, ok) in moved { #expect(ok == (index % 10 != 0), "order \(index)") }
            #expect(try await count("SELECT count(*) FROM payments WHERE state = 'succeeded'", db) == 108)
            #expect(try await count("SELECT count(*) FROM payments WHERE state = 'processing' AND lease_token IS NOT NULL", db) == 12)
            #expect(try await count("SELECT count(*) FROM outbox WHERE kind = 'result'", db) == 108)
            #expect(try await count("SELECT count(*) FROM payment_attempts WHERE outcome = 'succeeded'", db) == 120)
            let commits = try await count("SELECT count(DISTINCT xmin::text) FROM payments WHERE state = 'succeeded'", db)
            #expect(commits < 40, "108 outcomes recorded at once took \(commits) commits")
        }
    }

    @Test func aFencedWriterSharingABatchWithTheCurrentHolderIsStillRefused() async throws {
        try await withStore { store, db async throws in
            let tickets = try await accept((0..<60).map { order("pair_\($0)") }, on: store).map { acceptance -> PaymentTicket in
                guard case .charge(let ticket) = acceptance else { fatalError("\(acceptance)") }
                return ticket
            }
            // Each payment's holder and a writer whose lease was taken over record at the same moment.
            let outcomes = await withTaskGroup(of: (Int, Bool, Bool).self) { group in
                for (index, ticket) in tickets.enumerated() {
                    for stale in [false, true] {
                        group.addTask {
                            let writer = stale ? ticket.withLease("taken-over") : ticket
                            let change = PaymentChange(
                                PaymentLifecycle.succeed, outcome: .succeeded(reference: "ch_\(index)"), reference: "ch_\(index)",
                                result: result(writer, reference: "ch_\(index)"))
                            return (index, stale, (try? await store.move(writer, change)) ?? false)
                        }
                    }
                }
                var outcomes: [(Int, Bool, Bool)] = []
                for await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            for (index, stale, moved) in outcomes { #expect(moved == !stale, "order \(index), stale \(stale)") }
            #expect(try await count("SELECT count(*) FROM outbox WHERE kind = 'result'", db) == 60)
        }
    }

    /// The client's deadline passes while the accept waits for a lock; the statement commits
    /// afterwards. The record's next try, under the same lease, finds the payment its own and
    /// goes on to the call with the attempt it opened (or removes that attempt when it has no
    /// place for the call now), instead of taking it for a payment another holder drives and
    /// leaving an attempt opened and never sent.
    @Test func anAcceptWhoseAnswerWasLostIsFoundToBeTheCallersOwn() async throws {
        try await withStore(deadline: .milliseconds(300)) { store, db async throws in
            for openOnRetry in [true, false] {
                let order = order("lost_\(openOnRetry)")
                let lease = store.newLease()
                let blocker = try await lockTable("orders", db, for: .milliseconds(1500))
                await #expect(throws: StoreError.self, "the client gives up at its deadline") {
                    try await store.accept(order, origin: origin(openOnRetry ? 900 : 901), openAttempt: true, lease: lease)
                }
                try await blocker.value
                let committed = "SELECT count(*) FROM payments WHERE order_id = '\(order.orderID)'"
                for _ in 0..<50 where try await count(committed, db) == 0 { try await Task.sleep(for: .milliseconds(100)) }
                #expect(try await count(committed, db) == 1, "the statement committed after the client's deadline")

                let other = try await store.accept(order, origin: origin(902), openAttempt: true)
                #expect({ if case .duplicate(.processing) = other { true } else { false } }(), "another lease: \(other)")
                let again = try await store.accept(order, origin: origin(openOnRetry ? 900 : 901), openAttempt: openOnRetry, lease: lease)
                guard case .charge(let ticket) = again else { throw TestFailure("the same lease: \(again)") }
                #expect(ticket.lease == lease && ticket.attemptOpen == openOnRetry && ticket.attempt == (openOnRetry ? 1 : 0))
                let attempts = "SELECT count(*) FROM payment_attempts WHERE payment_id = '\(ticket.paymentID)'"
                #expect(try await count(attempts, db) == (openOnRetry ? 1 : 0), "no attempt row without a call to come")
                #expect(try await count("SELECT attempts FROM payments WHERE order_id = '\(order.orderID)'", db) == (openOnRetry ? 1 : 0))
            }
        }
    }

    /// The same for the statement that opens the attempt of a call (`send`): its answer lost,
    /// the holder's next try gets the attempt it opened, and exactly one attempt row exists.
    @Test func aSendWhoseAnswerWasLostOpensNoSecondAttempt() async throws {
        try await withStore(deadline: .milliseconds(300)) { store, db async throws in
            let order = order("lost_send")
            guard case .charge(let held) = try await store.accept(order, origin: origin(903), openAttempt: false) else {
                throw TestFailure("not accepted")
            }
            let blocker = try await lockTable("payments", db, for: .milliseconds(1500))
            await #expect(throws: StoreError.self, "the client gives up at its deadline") { try await store.send(held) }
            try await blocker.value
            let attempts = "SELECT count(*) FROM payment_attempts WHERE payment_id = '\(held.paymentID)'"
            for _ in 0..<50 where try await count(attempts, db) == 0 { try await Task.sleep(for: .milliseconds(100)) }
            #expect(try await count(attempts, db) == 1, "the statement committed after the client's deadline")
            let sent = try await store.send(held)
            #expect(sent?.attempt == 1, "the holder's next try gets the attempt it opened: \(String(describing: sent))")
            #expect(try await count(attempts, db) == 1)
            #expect(try await store.send(held.withLease("taken-over")) == nil, "another lease gets nothing")
        }
    }

    /// The record's next try arrives while its lost earlier `send` still holds the payment's row
    /// and commits attempt 1 meanwhile. The accept waits on that lock and must see the attempt
    /// committed during the wait: it reuses it for the call about to leave, or removes it when
    /// no call follows now, and never opens a second one (invariant 7: no attempt without a call).
    @Test func anAcceptWaitingOnItsOwnLostSendSeesTheAttemptItOpened() async throws {
        try await withStore { store, db async throws in
            for openOnRetry in [true, false] {
                let order = order("send_raced_\(openOnRetry)")
                let lease = store.newLease()
                let index = openOnRetry ? 904 : 905
                guard case .charge(let held) = try await store.accept(order, origin: origin(index), openAttempt: false, lease: lease) else {
                    throw TestFailure("not accepted")
                }
                let again = try await db.withConnection { connection in
                    // What the lost `send` does, held open: the row locked, attempt 1 written.
                    try await connection.query("BEGIN", logger: Logger(label: "test"))
                    try await connection.query(
                        "UPDATE payments SET attempts = attempts + 1 WHERE payment_id = \(held.paymentID)", logger: Logger(label: "test"))
                    try await connection.query(
                        """
                        INSERT INTO payment_attempts (payment_id, attempt_no, idempotency_key, worker)
                        VALUES (\(held.paymentID), 1, \(held.idempotencyKey), 'group-test')
                        """, logger: Logger(label: "test"))
                    async let again = store.accept(order, origin: origin(index), openAttempt: openOnRetry, lease: lease)
                    try await Task.sleep(for: .milliseconds(300))
                    try await connection.query("COMMIT", logger: Logger(label: "test"))
                    return try await again
                }
                guard case .charge(let ticket) = again else { throw TestFailure("the same lease: \(again)") }
                #expect(ticket.attemptOpen == openOnRetry && ticket.attempt == (openOnRetry ? 1 : 0), "\(ticket)")
                let attempts = "SELECT count(*) FROM payment_attempts WHERE payment_id = '\(held.paymentID)'"
                #expect(try await count(attempts, db) == (openOnRetry ? 1 : 0), "no attempt row without a call to come")
                #expect(try await count("SELECT attempts FROM payments WHERE payment_id = '\(held.paymentID)'", db) == (openOnRetry ? 1 : 0))
            }
        }
    }

    /// A success learned (a notification) while another writer holds the payment and closes its
    /// second try as not sent: the result names one call, not two. Under Read Committed a
    /// statement that waited for the row lock re-reads only the payment row, so the count of
    /// not-sent tries must come from a statement that starts after the lock is held.
    @Test func aSuccessLearnedWhileATryClosesAsNotSentCountsOnlyTheCallSent() async throws {
        try await withStore { store, db async throws in
            let order = order("learned_raced")
            guard case .charge(let held) = try await store.accept(order, origin: origin(906), openAttempt: true) else {
                throw TestFailure("not accepted")
            }
            let logger = Logger(label: "test")
            // Attempt 1 was sent and answered 503; attempt 2 is open, its charge about to fail to leave.
            try await db.query(
                """
                UPDATE payment_attempts SET finished_at = now(), outcome = 'retryable', error_code = 'channel_unavailable'
                WHERE payment_id = \(held.paymentID) AND attempt_no = 1
                """, logger: logger)
            try await db.query(
                """
                INSERT INTO payment_attempts (payment_id, attempt_no, idempotency_key, worker)
                VALUES (\(held.paymentID), 2, \(held.idempotencyKey), 'group-test')
                """, logger: logger)
            try await db.query("UPDATE payments SET attempts = 2 WHERE payment_id = \(held.paymentID)", logger: logger)
            let learned = try await db.withConnection { connection in
                // The writer that closes attempt 2 as not sent, held open with the row locked.
                try await connection.query("BEGIN", logger: logger)
                try await connection.query("UPDATE payments SET updated_at = now() WHERE payment_id = \(held.paymentID)", logger: logger)
                try await connection.query(
                    """
                    UPDATE payment_attempts SET finished_at = now(), outcome = \(ChannelOutcome.notSentKind)
                    WHERE payment_id = \(held.paymentID) AND attempt_no = 2
                    """, logger: logger)
                async let learned = store.learnSuccess(
                    idempotencyKey: held.idempotencyKey, channel: .card, reference: "ch_learned", occurredAt: "2026-12-06T10:00:00.000Z",
                    learnedBy: "the card notification")
                try await Task.sleep(for: .milliseconds(300))
                try await connection.query("COMMIT", logger: logger)
                return try await learned
            }
            #expect(learned == .settled(orderID: order.orderID))
            let named = "SELECT (payload::jsonb ->> 'attempts')::integer FROM outbox WHERE message_key = '\(order.orderID)' AND kind = 'result'"
            #expect(try await count(named, db) == 1, "the result names the one call sent")
        }
    }

    /// A lookup claim whose snapshot predates a replay's end: the claim locks the payment at
    /// the version the replay committed (due now, no lease), and what it reads of the attempts
    /// must be that version's too — the replay's call answered just now, with its error, not
    /// a call still open since a minute ago whose settle window looks long past (invariant 6).
    /// The claim is made slow to reach the payment by 20,000 earlier-due payments before it,
    /// and the replay commits once the claim is running.
    @Test func aLookupClaimSeesTheAnswerCommittedBeforeItLockedThePayment() async throws {
        try await withStore(deadline: .seconds(60)) { store, db async throws in
            let order = order("claim_raced")
            guard case .charge(let held) = try await store.accept(order, origin: origin(907), openAttempt: true) else {
                throw TestFailure("not accepted")
            }
            let logger = Logger(label: "test")
            // A replay's call, sent a minute ago and still open; its lease has lapsed.
            try await db.query(
                """
                UPDATE payments SET state = 'resolving', retry_due_at = now() - interval '1 second', lease_until = now() - interval '1 second',
                                    unknown_since = now() - interval '1 minute'
                WHERE payment_id = \(held.paymentID)
                """, logger: logger)
            try await db.query(
                "UPDATE payment_attempts SET started_at = now() - interval '1 minute' WHERE payment_id = \(held.paymentID)", logger: logger)
            try await db.query(
                """
                INSERT INTO orders (order_id, event_id, user_id, item_id, price, currency, discount, amount, channel, payment_method,
                                    fingerprint, created_at, source_topic, source_partition, source_offset, source_digest)
                SELECT o.order_id || '_' || g, o.event_id || '_' || g, user_id, item_id, price, currency, discount, amount, channel,
                       payment_method, fingerprint, created_at, source_topic, source_partition, source_offset + g, source_digest || '_' || g
                FROM orders o, generate_series(1, 20000) g WHERE o.order_id = \(order.orderID)
                """, logger: logger)
            try await db.query(
                """
                INSERT INTO payments (payment_id, order_id, state, amount, currency, channel, idempotency_key, attempts, retry_due_at)
                SELECT p.payment_id || '_' || g, p.order_id || '_' || g, 'resolving', amount, currency, channel, p.idempotency_key || '_' || g,
                       0, now() - interval '1 hour'
                FROM payments p, generate_series(1, 20000) g WHERE p.payment_id = \(held.paymentID)
                """, logger: logger)
            let tickets = try await db.withConnection { connection in
                // The replay's end, held open: its call answered "timeout", due for a lookup now.
                try await connection.query("BEGIN", logger: logger)
                try await connection.query(
                    """
                    UPDATE payments SET retry_due_at = now(), lease_token = NULL, lease_until = NULL, leased_by = NULL
                    WHERE payment_id = \(held.paymentID)
                    """, logger: logger)
                try await connection.query(
                    """
                    UPDATE payment_attempts SET finished_at = now(), outcome = 'unknown', error_code = 'timeout', error_message = 'no answer in 2 s'
                    WHERE payment_id = \(held.paymentID)
                    """, logger: logger)
                async let claimed = store.claimDueLookups(limit: 30000)
                // Once the claim is running (its snapshot taken, locking the earlier payments), the replay commits.
                let running = "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%SKIP LOCKED%' AND pid <> pg_backend_pid()"
                var polls = 0
                while try await count(running, db) == 0 && polls < 5000 { polls += 1; try await Task.sleep(for: .milliseconds(1)) }
                try await connection.query("COMMIT", logger: logger)
                return try await claimed
            }
            let ticket = try #require(tickets.first { $0.paymentID == held.paymentID }, "the payment was claimed")
            #expect(ticket.lastCallError?.code == "timeout", "the call's answer is read: \(ticket)")
            #expect(ticket.interruptedAttempts == 0, "the call was answered, not interrupted")
            let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
            #expect(now - (ticket.lastCallMilliseconds ?? 0) < 20_000, "the settle window starts at the answer, just now")
        }
    }

    /// Another session holds one payment's row lock (an operator's open transaction). Outcomes
    /// of 40 payments, that one among them, are recorded at the same moment: the 39 others
    /// commit while the lock is still held (their batch skips the held row), and only the held
    /// payment's write, made alone, waits its 4 s `lock_timeout` and fails, transiently, for its
    /// caller to retry.
    @Test func aRowLockedElsewhereHoldsUpOnlyItsOwnWrite() async throws {
        try await withStore { store, db async throws in
            let tickets = try await accept((0..<40).map { order("locked_\($0)") }, on: store).map { acceptance in
                guard case .charge(let ticket) = acceptance else { fatalError("\(acceptance)") }
                return ticket
            }
            let held = tickets[23]
            let locked = AsyncStream<Void>.makeStream()
            let blocker = Task {
                try await db.withTransaction(logger: Logger(label: "test")) { connection in
                    try await connection.query("SELECT 1 FROM payments WHERE payment_id = \(held.paymentID) FOR UPDATE", logger: Logger(label: "test"))
                    locked.continuation.yield()
                    try await Task.sleep(for: .seconds(20))
                }
            }
            for await _ in locked.stream { break }
            let releasedAt = ContinuousClock.now + .seconds(20)
            let outcomes = await withTaskGroup(of: (Int, Result<Bool, StoreError>, ContinuousClock.Instant).self) { group in
                for (index, ticket) in tickets.enumerated() {
                    group.addTask {
                        let change = PaymentChange(
                            PaymentLifecycle.succeed, outcome: .succeeded(reference: "ch_\(index)"), reference: "ch_\(index)",
                            result: result(ticket, reference: "ch_\(index)"))
                        do { return (index, .success(try await store.move(ticket, change)), ContinuousClock.now) }
                        catch { return (index, .failure(StoreError.classify(error)), ContinuousClock.now) }
                    }
                }
                var outcomes: [(Int, Result<Bool, StoreError>, ContinuousClock.Instant)] = []
                for await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            blocker.cancel()
            _ = try? await blocker.value
            for (index, outcome, finished) in outcomes {
                #expect(finished < releasedAt, "order \(index) waited for the lock to be released")
                switch outcome {
                case .success(let moved): #expect(moved && index != 23, "order \(index)")
                case .failure(let error): #expect(index == 23 && error.isRetryable && error.isLockContention, "order \(index): \(error)")
                }
            }
        }
    }

    /// A parked payment (dead letter `outcome_unknown`) put back on the lookup schedule (as a
    /// replay whose call answered unknown does) is found paid by the next lookup: its dead
    /// letter is closed with it, and the audit trail says a lookup did it. The letter names the
    /// calls sent by then, those of a replay that lost its lease during its call among them.
    @Test func aLookupThatFindsTheChargeClosesThePaymentsDeadLetters() async throws {
        try await withStore { store, db async throws in
            let held = try await parkedWithAReplaysCalls(order("parked"), at: 904, store, db)
            let open = "SELECT count(*) FROM dead_letters WHERE payment_id = '\(held.paymentID)' AND status = 'open'"
            guard let again = try await store.claimDueLookups(limit: 10).first(where: { $0.paymentID == held.paymentID }) else {
                throw TestFailure("no lookup due after the replay")
            }
            #expect(try await store.move(again, PaymentChange(
                PaymentLifecycle.resolvePaid, reference: "ch_found", result: result(again, reference: "ch_found"))))
            #expect(try await count(open, db) == 0, "the dead letter is closed with the payment")
            #expect(try await count(
                """
                SELECT count(*) FROM dead_letter_actions a JOIN dead_letters d ON d.id = a.dead_letter_id
                WHERE d.payment_id = '\(held.paymentID)' AND a.action = 'lookup' AND a.outcome = 'found_paid'
                """, db) == 1)
            #expect(try await count(
                "SELECT attempts FROM dead_letters WHERE payment_id = '\(held.paymentID)' AND status = 'replayed'", db) == 2,
                "the first call and the replay's 503 (its refused retry never left)")

            // A notification of the charge closes such a letter with the same count.
            let notified = try await parkedWithAReplaysCalls(order("parked_notified"), at: 905, store, db)
            #expect(try await store.learnSuccess(
                idempotencyKey: notified.idempotencyKey, channel: notified.order.channel, reference: "ch_notified",
                occurredAt: "2026-01-01T00:00:00Z", learnedBy: "a test notification") == .settled(orderID: notified.order.orderID))
            #expect(try await count(
                "SELECT attempts FROM dead_letters WHERE payment_id = '\(notified.paymentID)' AND status = 'replayed'", db) == 2)
        }
    }

    /// A payment parked with an `outcome_unknown` letter after one call, then replayed: the
    /// replay's call got a 503 and its retry never left (attempts 2 and 3), and the replay lost
    /// its lease, so the letter still says one call. The payment is due for a lookup.
    private func parkedWithAReplaysCalls(_ order: OrderCreated, at offset: Int, _ store: PaymentStore, _ db: PostgresClient) async throws -> PaymentTicket {
        guard case .charge(let held) = try await store.accept(order, origin: origin(offset), openAttempt: true) else {
            throw TestFailure("not accepted")
        }
        let timeout = Reason(code: "timeout", message: "no answer")
        #expect(try await store.move(held, PaymentChange(PaymentLifecycle.lookUp, outcome: .unknown(timeout), reason: timeout, dueAtMilliseconds: 0)))
        guard let looking = try await store.claimDueLookups(limit: 10).first(where: { $0.paymentID == held.paymentID }) else {
            throw TestFailure("no lookup due")
        }
        let letter = Reason(code: "outcome_unknown", message: "still unknown")
        #expect(try await store.move(looking, PaymentChange(PaymentLifecycle.park, reason: timeout, deadLetter: letter)))
        #expect(try await count("SELECT count(*) FROM dead_letters WHERE payment_id = '\(held.paymentID)' AND status = 'open' AND attempts = 1", db) == 1)
        let logger = Logger(label: "test")
        try await db.query(
            """
            INSERT INTO payment_attempts (payment_id, attempt_no, idempotency_key, worker, finished_at, outcome)
            VALUES (\(held.paymentID), 2, \(held.idempotencyKey), 'replay:op', now(), 'retryable'),
                   (\(held.paymentID), 3, \(held.idempotencyKey), 'replay:op', now(), \(ChannelOutcome.notSentKind))
            """, logger: logger)
        try await db.query(
            "UPDATE payments SET state = 'resolving', attempts = 3, retry_due_at = now() WHERE payment_id = \(held.paymentID)", logger: logger)
        return held
    }

    @Test func theServerGivesUpOnAStatementBeforeTheClientDeadline() async throws {
        try await withStore { _, db async throws in
            // So a batch that timed out was rolled back, not left running with its locks.
            let rows = try await db.query("SHOW statement_timeout", logger: Logger(label: "test")).collect()
            #expect(try rows.first?.decode(String.self) == "12s")
        }
    }

    /// The batched accept is a prepared statement, and PostgresNIO remembers a preparation
    /// that failed on its connection for good. A preparation that waited out `lock_timeout`
    /// behind another session's lock on a table (a migration's) must not leave the one
    /// connection it ran on refusing every accept after the lock is gone.
    @Test func aConnectionWhoseAcceptCouldNotBePreparedStillAccepts() async throws {
        try await withStore(maximumConnections: 1) { store, db, configuration async throws in
            let other = PostgresClient(configuration: configuration, backgroundLogger: Logger(label: "group-other"))
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await other.run() }
                // Held from another session while the store's only connection prepares the accept.
                let lock = try await lockTable("inbox", other, exclusive: true, for: .seconds(9))
                do {
                    _ = try await store.accept(order("behind_lock"), origin: origin(0), openAttempt: true)
                    Issue.record("an accept went through a table another session holds exclusively")
                } catch {
                    #expect(StoreError.classify(error).isRetryable, "\(error)")
                }
                try await lock.value
                // The lock is gone: the same connection accepts, the first order and new ones.
                let acceptances = try await accept([order("behind_lock"), order("after_lock_1"), order("after_lock_2")], on: store)
                #expect(acceptances.allSatisfy { if case .charge = $0 { true } else { false } }, "\(acceptances)")
                #expect(try await count("SELECT count(*) FROM payments", db) == 3)
                group.cancelAll()
            }
        }
    }

    // MARK: Support

    private func order(_ name: String) -> OrderCreated {
        OrderCreated(
            eventID: "evt_\(run)_\(name)", orderID: "ord_\(run)_\(name)", userID: "u_1", itemID: "course_7", price: 10000,
            currency: .cny, discount: .zero, channel: .card, paymentMethod: "pm_card_visa", createdAt: "2026-11-24T10:00:00Z")
    }

    private func origin(_ index: Int) -> EventOrigin {
        EventOrigin(topic: "orders.created", partition: 0, offset: Int64(index), digest: "digest_\(run)_\(index)")
    }

    private func accept(_ orders: [OrderCreated], on store: PaymentStore) async throws -> [Acceptance] {
        try await withThrowingTaskGroup(of: (Int, Acceptance).self) { group in
            for (index, order) in orders.enumerated() {
                group.addTask { (index, try await store.accept(order, origin: origin(index), openAttempt: true)) }
            }
            var acceptances = [Acceptance?](repeating: nil, count: orders.count)
            for try await (index, acceptance) in group { acceptances[index] = acceptance }
            return acceptances.map { $0! }
        }
    }

    private func result(_ ticket: PaymentTicket, reference: String) -> ResultEvent {
        ResultEvent(
            eventID: PaymentIdentity.resultEventID(paymentID: ticket.paymentID, status: "succeeded"), orderID: ticket.order.orderID,
            paymentID: ticket.paymentID, status: .succeeded, amount: ticket.order.amount, currency: "CNY", channel: "card",
            channelReference: reference, attempts: ticket.attempt, reason: nil, occurredAt: "2026-12-02T10:00:00.000Z")
    }

    private func count(_ sql: String, _ db: PostgresClient) async throws -> Int {
        let rows = try await db.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "test")).collect()
        return try rows.first!.decode(Int.self)
    }

    /// Holds a lock on `table` that blocks its writes, from another connection, for `duration`.
    /// `exclusive` blocks its reads too, and the analysis of any statement that names it.
    private func lockTable(_ table: String, _ db: PostgresClient, exclusive: Bool = false, for duration: Duration) async throws -> Task<Void, any Error> {
        let locked = AsyncStream<Void>.makeStream()
        let mode = exclusive ? "ACCESS EXCLUSIVE" : "SHARE ROW EXCLUSIVE"
        let task = Task {
            try await db.withTransaction(logger: Logger(label: "test")) { connection in
                try await connection.query(PostgresQuery(unsafeSQL: "LOCK TABLE \(table) IN \(mode) MODE"), logger: Logger(label: "test"))
                locked.continuation.yield()
                try await Task.sleep(for: duration)
            }
        }
        for await _ in locked.stream { break }
        return task
    }

    /// A store on a fresh database of the shared cluster, with a pool as large as a worker's.
    private func withStore(deadline: Duration = .seconds(15), _ body: (PaymentStore, PostgresClient) async throws -> Void) async throws {
        try await withStore(deadline: deadline) { store, db, _ in try await body(store, db) }
    }

    /// The same, with `maximumConnections` in the store's pool and the pool's configuration
    /// for opening other sessions on its database.
    private func withStore(
        maximumConnections: Int = 8, deadline: Duration = .seconds(15),
        _ body: (PaymentStore, PostgresClient, PostgresClient.Configuration) async throws -> Void
    ) async throws {
        let url = try await Pipeline.migratedDatabase("group")
        var configuration = try DatabaseURL.configuration(url)
        configuration.options.maximumConnections = maximumConnections
        let db = PostgresClient(configuration: configuration, backgroundLogger: Logger(label: "group-db"))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await db.run() }
            try await body(PaymentStore(client: db, logger: Logger(label: "group-store"), worker: "group-test", deadline: deadline), db, configuration)
            group.cancelAll()
        }
    }
}

extension PaymentTicket {
    fileprivate func withLease(_ lease: String) -> PaymentTicket {
        var ticket = PaymentTicket(
            paymentID: paymentID, order: order, idempotencyKey: idempotencyKey, attempt: attempt, lease: lease, state: state,
            reference: reference, traceparent: traceparent)
        ticket.attemptOpen = attemptOpen
        return ticket
    }
}
