import CashierCore
import CashierStore
import Foundation
import Logging
import PostgresNIO
import Testing

/// Every dead-letter statement of the store against a real Postgres: the `payments.dlq` message
/// is written in the same transaction as its row (both rows carry one transaction id, `xmin`),
/// names the row's id, is written once however often the record comes back, and matches
/// Contracts/schemas — as do the results and retry messages in the outbox.
@Suite(.serialized, .enabled(if: Pipeline.isAvailable, "needs CASHIER_TEST_DATABASE_URL (run `make test`)"))
struct DeadLetterOutboxTests {
    let run = UUID().uuidString.prefix(8).lowercased()

    @Test func everyDeadLetterIsAnnouncedOnceInItsOwnTransactionAndMatchesTheContract() async throws {
        try await withStore { store, db async throws in
            // Exhausted: the payment fails, with its result and a dead letter.
            let order = self.order("exhausted", price: 2990)
            guard case .charge(let ticket) = try await store.accept(order, origin: origin(1), openAttempt: true) else {
                throw TestFailure("the order was not accepted for charging")
            }
            let lastError = Reason(code: "service_unavailable", message: "card channel HTTP 503")
            let exhausted = Reason(code: "retries_exhausted", message: "1 attempts failed; last: \(lastError)")
            let failed = ResultEvent(
                eventID: PaymentIdentity.resultEventID(paymentID: ticket.paymentID, status: "failed"), orderID: order.orderID,
                paymentID: ticket.paymentID, status: .failed, amount: order.amount, currency: "CNY", channel: "card", channelReference: nil,
                attempts: ticket.attempt, reason: exhausted, occurredAt: "2026-12-02T10:00:00.000Z")
            #expect(try await store.move(ticket, PaymentChange(
                PaymentLifecycle.exhaust, outcome: .retryable(lastError), reason: exhausted, result: failed, deadLetter: exhausted)))
            // A success reported after that: a contradiction.
            #expect(try await store.learnSuccess(
                idempotencyKey: ticket.idempotencyKey, channel: .card, reference: "pi_late", occurredAt: "2026-12-02T10:00:01.000Z",
                learnedBy: "test") == .contradiction(orderID: order.orderID))
            // The same order id with another price: a conflict (the conflicting event is kept).
            var conflicting = order
            conflicting.price += 1
            _ = try await store.accept(conflicting, origin: origin(2))
            // A later invalid event naming the order: a conflict without an event.
            let invalid = Array(#"{"event_id":"e","order_id":"\#(order.orderID)","price":-1}"#.utf8)
            var rejection: OrderRejection?
            do throws(OrderRejection) { _ = try OrderCreated.decode(invalid) } catch { rejection = error }
            #expect(try await store.reject(
                try #require(rejection), payload: invalid, origin: origin(3), result: invalidResult(order.orderID, "rej_\(run)_invalid")) == .conflict)
            // Records that name no order.
            let poison = Array("poison \u{0} record".utf8)
            try await store.deadLetterPoison(poison, origin: origin(4), error: StoreError(.invariant, "cannot be stored"))
            let unreadable = Array(#"{"order_id":1}"#.utf8)
            let unreadableReason = Reason(code: "invalid_retry_message", message: "retry message lacks string order_id")
            try await store.deadLetterUnreadable(unreadable, origin: origin(5, topic: "payments.retry"), reason: unreadableReason)
            // A valid order that cannot be stored gets a rejected result — unless it was accepted
            // (then its payment and its own result stand).
            let storedNot = self.order("unstorable", price: 100)
            let rejected = ResultEvent(
                eventID: "rej_\(run)", orderID: storedNot.orderID, paymentID: nil, status: .rejected, amount: nil, currency: nil, channel: nil,
                channelReference: nil, attempts: 0, reason: Reason(code: "storage_error", message: "not stored"), occurredAt: "2026-12-02T10:00:02.000Z")
            try await store.deadLetterPoison(
                Array(storedNot.json().utf8), origin: origin(6), error: StoreError(.database, "x"),
                rejection: StorageRejection(order: storedNot, result: rejected))
            var accepted = rejected
            accepted.eventID = "rej_accepted_\(run)"
            accepted.orderID = order.orderID
            try await store.deadLetterPoison(
                Array(order.json().utf8), origin: origin(7), error: StoreError(.database, "x"),
                rejection: StorageRejection(order: order, result: accepted))
            #expect(try await count("SELECT count(*) FROM outbox WHERE event_id = 'rej_\(run)' AND kind = 'result'", db) == 1)
            #expect(try await count("SELECT count(*) FROM outbox WHERE event_id = 'rej_accepted_\(run)'", db) == 0, "an accepted order keeps its own result")
            // The buyer was told "rejected": a later event of that order (an upstream duplicate,
            // a redelivery) is never charged, and the letter is found by its order id.
            var again = storedNot
            again.eventID += "_again"
            #expect(try await store.accept(again, origin: origin(8), openAttempt: true) == .rejectedEarlier)
            #expect(try await count("SELECT count(*) FROM payments WHERE order_id = '\(storedNot.orderID)'", db) == 0)
            #expect(try await count("SELECT count(*) FROM dead_letters WHERE order_id = '\(storedNot.orderID)'", db) == 1)
            // The same records again change nothing.
            try await store.deadLetterPoison(poison, origin: origin(4), error: StoreError(.invariant, "cannot be stored"))
            try await store.deadLetterUnreadable(unreadable, origin: origin(5, topic: "payments.retry"), reason: unreadableReason)
            #expect(try await store.reject(
                try #require(rejection), payload: invalid, origin: origin(3), result: invalidResult(order.orderID, "rej_\(run)_invalid")) == .conflict)

            let letters = try await db.query(
                """
                SELECT d.id, d.reason_code, d.xmin::text, o.xmin::text, o.payload
                FROM dead_letters d JOIN outbox o ON o.kind = 'dlq' AND (o.payload::jsonb ->> 'dead_letter_id')::bigint = d.id
                ORDER BY d.id
                """, logger: Logger(label: "test")).collect()
            let codes = try letters.map { try $0.decode((Int64, String, String, String, String).self).1 }
            #expect(codes.sorted() == ["channel_contradiction", "invalid_retry_message", "order_conflict", "order_conflict", "retries_exhausted", "storage_error", "storage_error", "storage_error"])
            #expect(try await count("SELECT count(*) FROM dead_letters", db) == 8)
            #expect(try await count("SELECT count(*) FROM outbox WHERE kind = 'dlq'", db) == 8, "one message per dead letter")
            for row in letters {
                let (id, code, letterTransaction, messageTransaction, payload) = try row.decode((Int64, String, String, String, String).self)
                #expect(letterTransaction == messageTransaction, "dead letter \(id) (\(code)) and its message were written by different transactions")
                let event = try JSONDecoder().decode(DeadLetterEvent.self, from: Data(payload.utf8))
                #expect(event.deadLetterID == id)
                #expect(event.reason.code == code)
                #expect(payload == event.json(), "the stored message is the type's own encoding")
            }

            let directory = NSTemporaryDirectory() + "cashier-outbox-\(run)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let messages = try await db.query("SELECT id, kind, payload FROM outbox", logger: Logger(label: "test")).collect()
            let schemas = ["dlq": "dead-letter", "result": "payment-result", "retry": "payment-retry"]
            for row in messages {
                let (id, kind, payload) = try row.decode((Int64, String, String).self)
                let schema = try #require(schemas[kind], "outbox kind \(kind)")
                try Data(payload.utf8).write(to: URL(fileURLWithPath: "\(directory)/\(schema).\(id).json"))
            }
            #expect(messages.count == 10, "eight dead letters, the failed result and the unstorable order's rejected result")
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("scripts/check-contracts.py").path
            let verdict = try? await Shell.run(["python3", script, "--events", directory])
            #expect(verdict != nil, "outbox messages do not match the schemas: run scripts/check-contracts.py --events \(directory)")
        }
    }

    /// The buyer of an order rejected because its record could not be stored was told
    /// "rejected": that stays its only result. A later event with other chargeable fields is a
    /// conflict, and a later invalid one is a conflict too (no second `rejected`).
    @Test func anOrderRejectedForStorageKeepsItsOneResult() async throws {
        try await withStore { store, db async throws in
            let order = self.order("told_rejected", price: 700)
            try await store.deadLetterPoison(
                Array(order.json().utf8), origin: origin(1), error: StoreError(.database, "x"),
                rejection: StorageRejection(order: order, result: rejectedResult(order, "rej_\(run)_1")))
            var other = order
            other.price += 1
            other.eventID += "_other"
            #expect(try await store.accept(other, origin: origin(2), openAttempt: true) == .conflict)
            #expect(try await count("SELECT count(*) FROM dead_letters WHERE order_id = '\(order.orderID)' AND reason_code = 'order_conflict'", db) == 1)
            let invalid = Array(#"{"event_id":"e","order_id":"\#(order.orderID)","price":-1}"#.utf8)
            #expect(try await store.reject(
                try invalidRejection(invalid), payload: invalid, origin: origin(4), result: invalidResult(order.orderID, "rej_\(run)_4")) == .conflict,
                "a later invalid event of the order is a conflict")
            // A second record of the order that cannot be stored either: no second result.
            try await store.deadLetterPoison(
                Array(order.json().utf8), origin: origin(5), error: StoreError(.database, "x"),
                rejection: StorageRejection(order: order, result: rejectedResult(order, "rej_\(run)_5")))
            #expect(try await count("SELECT count(*) FROM outbox WHERE kind = 'result' AND message_key = '\(order.orderID)'", db) == 1)
            #expect(try await count("SELECT count(*) FROM payments WHERE order_id = '\(order.orderID)'", db) == 0)
        }
    }

    /// An invalid event decides the order it names, as an accept does: its buyer was told
    /// "rejected", so a later valid event of that order is a conflict, never charged, and the
    /// order keeps one result. The same bytes again are a duplicate; the same record again
    /// changes nothing.
    @Test func anInvalidEventDecidesItsOrder() async throws {
        try await withStore { store, db async throws in
            let order = self.order("invalid_first", price: 1000)
            let invalid = Array(#"{"event_id":"e1","order_id":"\#(order.orderID)","price":0}"#.utf8)
            func at(_ offset: Int64) -> EventOrigin { EventOrigin(topic: "orders.created\(run)", partition: 0, offset: offset, value: invalid) }
            let rejection = try invalidRejection(invalid)
            #expect(try await store.reject(rejection, payload: invalid, origin: at(1), result: invalidResult(order.orderID, "rej_\(run)_1")) == .rejected)
            #expect(try await store.reject(rejection, payload: invalid, origin: at(1), result: invalidResult(order.orderID, "rej_\(run)_1")) == .rejected,
                    "a redelivery of the record")
            #expect(try await store.reject(rejection, payload: invalid, origin: at(2), result: invalidResult(order.orderID, "rej_\(run)_2")) == .duplicate,
                    "the same bytes at another offset")
            let other = Array(#"{"event_id":"e2","order_id":"\#(order.orderID)","price":-5}"#.utf8)
            #expect(try await store.reject(
                try invalidRejection(other), payload: other, origin: origin(3), result: invalidResult(order.orderID, "rej_\(run)_3")) == .conflict)
            #expect(try await store.accept(order, origin: origin(4), openAttempt: true) == .conflict, "the valid event of the order is not charged")
            #expect(try await count("SELECT count(*) FROM payments WHERE order_id = '\(order.orderID)'", db) == 0)
            #expect(try await count("SELECT count(*) FROM outbox WHERE kind = 'result' AND message_key = '\(order.orderID)'", db) == 1)
            #expect(try await count("SELECT count(*) FROM dead_letters WHERE order_id = '\(order.orderID)' AND reason_code = 'order_conflict'", db) == 2)
            // An invalid event of an accepted order is a conflict, as before.
            let accepted = self.order("accepted_first", price: 1100)
            guard case .charge = try await store.accept(accepted, origin: origin(5), openAttempt: true) else {
                throw TestFailure("the order was not accepted for charging")
            }
            let late = Array(#"{"event_id":"e3","order_id":"\#(accepted.orderID)","price":0}"#.utf8)
            #expect(try await store.reject(
                try invalidRejection(late), payload: late, origin: origin(6), result: invalidResult(accepted.orderID, "rej_\(run)_6")) == .conflict)
            #expect(try await count("SELECT count(*) FROM outbox WHERE event_id = 'rej_\(run)_6'", db) == 0)
        }
    }

    /// An invalid event and a valid one of the same order on two connections, both in flight:
    /// whichever claims the order's fate first wins; the other waits and is a conflict.
    @Test func anInvalidEventAndAConcurrentAcceptOfOneOrderNeverBothWin() async throws {
        try await withStore { store, db async throws in
            let order = self.order("raced_invalid", price: 1200)
            let invalid = Array(#"{"event_id":"e1","order_id":"\#(order.orderID)","price":0}"#.utf8)
            try await db.withConnection { connection in
                try await connection.query("BEGIN", logger: Logger(label: "test"))
                try await connection.query(
                    "INSERT INTO order_fates (order_id, fate) VALUES (\(order.orderID), 'accepted')", logger: Logger(label: "test"))
                async let answer = store.reject(
                    try invalidRejection(invalid), payload: invalid, origin: origin(1), result: invalidResult(order.orderID, "rej_\(run)_raced"))
                try await Task.sleep(for: .milliseconds(300))
                try await connection.query("COMMIT", logger: Logger(label: "test"))
                #expect(try await answer == .conflict)
            }
            #expect(try await count("SELECT count(*) FROM outbox WHERE event_id = 'rej_\(run)_raced'", db) == 0)
        }
    }

    /// An order id first named by an invalid event before schema version 9 (its rejection kept
    /// in the inbox only) gets that fate when the schema is migrated: a later valid event of it
    /// is a conflict.
    @Test func migratingKeepsEarlierInvalidRejections() async throws {
        try await withStore { store, db async throws in
            let logger = Logger(label: "test")
            let order = self.order("legacy_invalid", price: 1300)
            try await db.query("DELETE FROM schema_migrations WHERE version >= 9", logger: logger)
            try await db.query(
                """
                INSERT INTO inbox (source_topic, source_partition, source_offset, source_digest, order_id, disposition, reason_code, reason_message)
                VALUES ('orders.created', 0, 1, 'd1', \(order.orderID), 'rejected', 'invalid_price', 'x')
                """, logger: logger)
            #expect(try await Migrator(client: db, logger: logger).migrate() == Array(9...Migrator.latestVersion))
            #expect(try await count("SELECT count(*) FROM order_fates WHERE fingerprint = 'invalid:d1'", db) == 1)
            #expect(try await store.accept(order, origin: origin(2), openAttempt: true) == .conflict)
            #expect(try await count("SELECT count(*) FROM payments", db) == 0)
        }
    }

    /// A poison record's rejection and an accept of the same order on another connection, both
    /// in flight: the order's fate row decides, not a snapshot. Each side is held open in a real
    /// transaction while the other runs, then committed.
    @Test func aRejectionAndAConcurrentAcceptOfOneOrderNeverBothWin() async throws {
        try await withStore { store, db async throws in
            // The rejection commits while the accept waits on it: the accept does not charge.
            let first = self.order("raced_rejection", price: 800)
            try await db.withConnection { connection in
                try await connection.query("BEGIN", logger: Logger(label: "test"))
                try await connection.query(
                    "INSERT INTO order_fates (order_id, fate, fingerprint) VALUES (\(first.orderID), 'rejected', \(first.fingerprint))",
                    logger: Logger(label: "test"))
                async let accepted = store.accept(first, origin: origin(1), openAttempt: true)
                try await Task.sleep(for: .milliseconds(300))
                try await connection.query("COMMIT", logger: Logger(label: "test"))
                #expect(try await accepted == .rejectedEarlier)
            }
            #expect(try await count("SELECT count(*) FROM payments WHERE order_id = '\(first.orderID)'", db) == 0)
            // The accept commits while the rejection waits on it: nothing is published as rejected.
            let second = self.order("raced_accept", price: 900)
            try await db.withConnection { connection in
                try await connection.query("BEGIN", logger: Logger(label: "test"))
                try await connection.query(
                    "INSERT INTO order_fates (order_id, fate) VALUES (\(second.orderID), 'accepted')", logger: Logger(label: "test"))
                async let rejected: Void = store.deadLetterPoison(
                    Array(second.json().utf8), origin: origin(2), error: StoreError(.database, "x"),
                    rejection: StorageRejection(order: second, result: rejectedResult(second, "rej_\(run)_raced")))
                try await Task.sleep(for: .milliseconds(300))
                try await connection.query("COMMIT", logger: Logger(label: "test"))
                try await rejected
            }
            #expect(try await count("SELECT count(*) FROM outbox WHERE event_id = 'rej_\(run)_raced'", db) == 0)
            #expect(try await count("SELECT count(*) FROM inbox WHERE order_id = '\(second.orderID)' AND disposition = 'rejected'", db) == 0)
        }
    }

    /// Rejections for storage made before schema version 7 (kept in the inbox, or only as a
    /// published result) become fates when the schema is migrated: those orders stay uncharged.
    /// During a rolling deploy a pod of an earlier release still rejects in the inbox only; that
    /// row decides its order as a fate would.
    @Test func migratingKeepsEarlierRejectionsAndAnOldPodsRejectionDecidesItsOrder() async throws {
        try await withStore { store, db async throws in
            let logger = Logger(label: "test")
            let inInbox = self.order("legacy_inbox", price: 300)
            let inOutbox = self.order("legacy_outbox", price: 400)
            let chargedAnyway = self.order("legacy_accepted", price: 500)
            guard case .charge = try await store.accept(chargedAnyway, origin: origin(3), openAttempt: true) else {
                throw TestFailure("the order was not accepted for charging")
            }
            // The schema as version 6 left it, with the rows its code wrote.
            try await db.query("DROP TABLE order_fates", logger: logger)
            try await db.query("ALTER TABLE payments DROP COLUMN unsent_since", logger: logger)
            try await db.query(
                """
                INSERT INTO inbox (source_topic, source_partition, source_offset, source_digest, order_id, disposition, reason_code, reason_message)
                VALUES ('orders.created', 0, 1, 'd1', \(inInbox.orderID), 'rejected', 'storage_error', 'x')
                """, logger: logger)
            for (number, order) in [(2, inOutbox), (3, chargedAnyway)] {
                let result = rejectedResult(order, "rej_\(run)_legacy_\(number)")
                try await db.query(
                    "INSERT INTO outbox (event_id, kind, message_key, payload) VALUES (\(result.eventID), 'result', \(order.orderID), \(result.json()))",
                    logger: logger)
            }
            try await db.query("DELETE FROM schema_migrations WHERE version >= 7", logger: logger)
            #expect(try await Migrator(client: db, logger: logger).migrate() == Array(7...Migrator.latestVersion))
            #expect(try await count("SELECT count(*) FROM order_fates WHERE fate = 'rejected'", db) == 2)
            for (number, order) in [(4, inInbox), (5, inOutbox)] {
                var again = order
                again.eventID += "_again"
                #expect(try await store.accept(again, origin: origin(Int64(number)), openAttempt: true) == .rejectedEarlier)
            }
            #expect(try await count("SELECT count(*) FROM payments", db) == 1)
            // During the rolling deploy a pod of the previous release rejects as it did: in the
            // inbox only, claiming no fate. The order is still never charged.
            let byOldPod = self.order("old_pod_rejection", price: 600)
            try await db.query(
                """
                INSERT INTO inbox (source_topic, source_partition, source_offset, source_digest, order_id, disposition, reason_code, reason_message)
                VALUES ('orders.created', 0, 9, 'd9', \(byOldPod.orderID), 'rejected', 'storage_error', 'x')
                """, logger: logger)
            #expect(try await store.accept(byOldPod, origin: origin(10), openAttempt: true) == .rejectedEarlier)
            #expect(try await count("SELECT count(*) FROM payments", db) == 1)
            // A pod of the release before schema 9 rejects an invalid event in the inbox only,
            // after the backfill ran: that row decides the order as a fate would.
            let invalidByOldPod = self.order("old_pod_invalid", price: 700)
            let oldDigest = "d_invalid_\(run)"
            try await db.query(
                """
                INSERT INTO inbox (source_topic, source_partition, source_offset, source_digest, order_id, disposition, reason_code, reason_message)
                VALUES ('orders.created', 0, 11, \(oldDigest), \(invalidByOldPod.orderID), 'rejected', 'invalid_price', 'x')
                """, logger: logger)
            #expect(try await store.accept(invalidByOldPod, origin: origin(12), openAttempt: true) == .conflict, "never charged")
            #expect(try await count("SELECT count(*) FROM payments", db) == 1)
            let oldBytes = Array(#"{"event_id":"e","order_id":"\#(invalidByOldPod.orderID)","price":-1}"#.utf8)
            let sameBytes = EventOrigin(topic: "orders.created", partition: 1, offset: 13, digest: oldDigest)
            #expect(try await store.reject(
                try invalidRejection(oldBytes), payload: oldBytes, origin: sameBytes,
                result: invalidResult(invalidByOldPod.orderID, "rej_\(run)_old_same")) == .duplicate)
            #expect(try await store.reject(
                try invalidRejection(oldBytes), payload: oldBytes, origin: origin(14),
                result: invalidResult(invalidByOldPod.orderID, "rej_\(run)_old_other")) == .conflict)
            // A valid event of that order that cannot be stored is not told "rejected" again.
            try await store.deadLetterPoison(
                Array(invalidByOldPod.json().utf8), origin: origin(15), error: StoreError(.invariant, "x"),
                rejection: StorageRejection(order: invalidByOldPod, result: rejectedResult(invalidByOldPod, "rej_\(run)_old_storage")))
            #expect(try await count("SELECT count(*) FROM outbox WHERE event_id LIKE 'rej_\(run)_old_%'", db) == 0, "no second result")
            #expect(try await count("SELECT count(*) FROM order_fates WHERE order_id = '\(invalidByOldPod.orderID)'", db) == 0)
        }
    }

    /// Tries whose charge never left (`not_sent`) are no calls: a dead letter ends the payment's
    /// wait without a call (a replay starts its own), and the letter names the calls sent. A
    /// replay whose charge never left adds none to it; one the channel did not process adds one.
    @Test func aDeadLetterEndsTheWaitWithoutACallAndNamesTheCallsSent() async throws {
        try await withStore { store, db async throws in
            let logger = Logger(label: "test")
            let order = self.order("unsent_exhausted", price: 1400)
            // As two tries stand whose charges never left, the second still held.
            var ticket = try await acceptWithTwoTries(order, secondSent: false, store, db)
            try await db.query(
                "UPDATE payments SET unsent_since = now() - interval '2 hours' WHERE payment_id = \(ticket.paymentID)", logger: logger)
            ticket.attempt = 2
            ticket.notSentAttempts = 2
            ticket.attemptOpen = false
            let reason = Reason(code: "retries_exhausted", message: "no call could be sent for 2 hours; nothing was charged")
            let failed = ResultEvent(
                eventID: PaymentIdentity.resultEventID(paymentID: ticket.paymentID, status: "failed"), orderID: order.orderID,
                paymentID: ticket.paymentID, status: .failed, amount: order.amount, currency: "CNY", channel: "card", channelReference: nil,
                attempts: ticket.callsSent, reason: reason, occurredAt: "2026-12-02T10:00:00.000Z")
            #expect(try await store.move(ticket, PaymentChange(PaymentLifecycle.exhaust, reason: reason, result: failed, deadLetter: reason)))
            #expect(try await count(
                "SELECT count(*) FROM payments WHERE payment_id = '\(ticket.paymentID)' AND state = 'failed' AND unsent_since IS NULL", db) == 1,
                "the letter ends the wait without a call")
            #expect(try await count(
                "SELECT count(*) FROM dead_letters WHERE payment_id = '\(ticket.paymentID)' AND attempts = 0", db) == 1,
                "the letter names no call sent")
            #expect(try await count(
                "SELECT count(*) FROM outbox WHERE kind = 'dlq' AND (payload::jsonb ->> 'attempts')::integer = 0 AND message_key = '\(order.orderID)'",
                db) == 1)

            let letters = DeadLetterStore(client: db, logger: logger)
            let letterCalls = "SELECT attempts FROM dead_letters WHERE payment_id = '\(ticket.paymentID)'"
            for (outcome, calls) in [(ChannelOutcome.notSent(Reason(code: "connect_failed", message: "refused")), 0),
                                     (.notProcessed(Reason(code: "rate_limited", message: "429")), 1)] {
                let id = try await count("SELECT id FROM dead_letters WHERE payment_id = '\(ticket.paymentID)'", db)
                guard case .ready(let claim) = try await letters.beginReplay(Int64(id), actor: "op", reason: "test", lease: .seconds(30)),
                      let sent = try await letters.replayAttempt(claim) else {
                    throw TestFailure("the replay could not start")
                }
                try await letters.finishReplay(claim, .failedAgain(sent, outcome), detail: "failed again")
                #expect(try await count(letterCalls, db) == calls, "after a replay that was \(outcome.kind)")
                #expect(try await count(
                    "SELECT count(*) FROM payments WHERE payment_id = '\(ticket.paymentID)' AND state = 'failed'", db) == 1)
            }
            // A replay whose lease was taken over while its call failed leaves the letter to the
            // new holder; one that ends declined counts its call as it closes the letter.
            let id = Int64(try await count("SELECT id FROM dead_letters WHERE payment_id = '\(ticket.paymentID)'", db))
            guard case .ready(let overtaken) = try await letters.beginReplay(id, actor: "op", reason: "test", lease: .seconds(30)),
                  let overtakenCall = try await letters.replayAttempt(overtaken) else {
                throw TestFailure("the replay could not start")
            }
            try await db.query("UPDATE payments SET lease_token = 'another holder' WHERE payment_id = \(ticket.paymentID)", logger: logger)
            // The new holder has already recorded an answer for the replay's call meanwhile.
            try await db.query(
                """
                UPDATE payment_attempts SET finished_at = now(), outcome = 'unknown', error_code = 'timeout'
                WHERE payment_id = \(ticket.paymentID) AND attempt_no = \(overtakenCall.attempt)
                """, logger: logger)
            try await letters.finishReplay(overtaken, .failedAgain(overtakenCall, .retryable(Reason(code: "http_503", message: "503"))), detail: "lost")
            #expect(try await count(letterCalls, db) == 1, "a replay that lost its lease leaves the letter's calls alone")
            #expect(try await count(
                """
                SELECT count(*) FROM payment_attempts WHERE payment_id = '\(ticket.paymentID)' AND attempt_no = \(overtakenCall.attempt)
                  AND outcome = 'unknown' AND error_code = 'timeout'
                """, db) == 1, "the late replay leaves the new holder's record of its call alone")
            try await db.query(
                "UPDATE payments SET state = 'failed', lease_token = NULL, lease_until = NULL WHERE payment_id = \(ticket.paymentID)", logger: logger)
            guard case .ready(let declining) = try await letters.beginReplay(id, actor: "op", reason: "test", lease: .seconds(30)),
                  let declinedCall = try await letters.replayAttempt(declining) else {
                throw TestFailure("the replay could not start")
            }
            try await letters.finishReplay(declining, .declined(declinedCall, Reason(code: "card_declined", message: "insufficient funds")), detail: "declined")
            #expect(try await count(
                "SELECT count(*) FROM dead_letters WHERE payment_id = '\(ticket.paymentID)' AND status = 'replayed' AND attempts = 3",
                db) == 1, "the closed letter names the three calls sent (not_processed, 503, declined), not the three that never left")
        }
    }

    /// A NUL in a channel's answer (its reference, its message) never stops an outcome from being
    /// recorded: not a worker's, not an operator's replay. Postgres refuses U+0000 in text, and an
    /// unrecorded success would be looked up for ever while its money had moved.
    @Test func aNULInAChannelsAnswerIsRecordedEscaped() async throws {
        try await withStore { store, db async throws in
            let logger = Logger(label: "test")
            let order = self.order("nul_answer", price: 1500)
            var ticket = try await acceptWithTwoTries(order, secondSent: true, store, db)
            ticket.attempt = 2
            ticket.notSentAttempts = 1
            // The worker's last call: a 503 whose message holds a NUL; the payment fails (after a
            // lookup that found no charge, in the real path) and is dead-lettered.
            let reason = Reason(code: "retries_exhausted", message: "bad\u{0}gateway")
            let failed = ResultEvent(
                eventID: PaymentIdentity.resultEventID(paymentID: ticket.paymentID, status: "failed"), orderID: order.orderID,
                paymentID: ticket.paymentID, status: .failed, amount: order.amount, currency: "CNY", channel: "card", channelReference: nil,
                attempts: ticket.callsSent, reason: reason, occurredAt: "2026-12-02T10:00:00.000Z")
            #expect(try await store.move(ticket, PaymentChange(
                PaymentLifecycle.exhaust, outcome: .retryable(Reason(code: "http_503", message: "bad\u{0}gateway")), reason: reason,
                result: failed, deadLetter: reason)))
            #expect(try await count(
                #"SELECT count(*) FROM payment_attempts WHERE payment_id = '\#(ticket.paymentID)' AND attempt_no = 2 AND error_message = 'bad\u0000gateway'"#,
                db) == 1, "the worker's answer is recorded, its NUL escaped")

            // Two replays: one whose call is refused with a NUL in its message, one that charges
            // with a NUL in the charge's id.
            let letters = DeadLetterStore(client: db, logger: logger)
            let id = Int64(try await count("SELECT id FROM dead_letters WHERE payment_id = '\(ticket.paymentID)'", db))
            guard case .ready(let first) = try await letters.beginReplay(id, actor: "op", reason: "test", lease: .seconds(30)),
                  let firstCall = try await letters.replayAttempt(first) else {
                throw TestFailure("the replay could not start")
            }
            try await letters.finishReplay(
                first, .failedAgain(firstCall, .notProcessed(Reason(code: "rate_limited", message: "upstream\u{0}busy"))), detail: "again\u{0}")
            #expect(try await count(
                #"SELECT count(*) FROM dead_letters WHERE id = \#(id) AND status = 'open' AND strpos(reason_message, 'upstream\u0000busy') > 0"#,
                db) == 1, "the failed replay is recorded on its letter")
            guard case .ready(let second) = try await letters.beginReplay(id, actor: "op", reason: "test", lease: .seconds(30)),
                  let secondCall = try await letters.replayAttempt(second) else {
                throw TestFailure("the second replay could not start")
            }
            let succeeded = ResultEvent(
                eventID: "res_\(run)_nul_replay", orderID: order.orderID,
                paymentID: ticket.paymentID, status: .succeeded, amount: order.amount, currency: "CNY", channel: "card",
                channelReference: "pi_\u{0}x", attempts: 3, reason: nil, occurredAt: "2026-12-02T10:00:05.000Z")
            try await letters.finishReplay(second, .charged(secondCall, reference: "pi_\u{0}x", result: succeeded), detail: "charged")
            #expect(try await count(
                #"SELECT count(*) FROM payments WHERE payment_id = '\#(ticket.paymentID)' AND state = 'succeeded' AND channel_reference = 'pi_\u0000x'"#,
                db) == 1, "the replay's charge is recorded, its reference escaped")
            #expect(try await count(
                "SELECT count(*) FROM dead_letters WHERE id = \(id) AND status = 'replayed'", db) == 1)
        }
    }

    /// A call interrupted before its answer was recorded may have left, so the wait without a
    /// call that began before it is over: the sweeper, a retry claim and a take-over each close
    /// the open attempt as interrupted and clear `unsent_since`. Kept, it would let the unsent
    /// horizon end the payment although a call was sent since.
    @Test func anInterruptedCallEndsTheWaitWithoutACall() async throws {
        try await withStore { store, db async throws in
            let logger = Logger(label: "test")
            // Each: a try whose charge never left, then a call sent whose holder vanished.
            func stranded(_ name: String, state: String) async throws -> PaymentTicket {
                let ticket = try await acceptWithTwoTries(self.order(name, price: 1600), secondSent: true, store, db)
                try await db.query(
                    """
                    UPDATE payments SET state = \(state), unsent_since = now() - interval '10 minutes', retry_due_at = now(),
                                        lease_until = now() - interval '1 second'
                    WHERE payment_id = \(ticket.paymentID)
                    """, logger: logger)
                return ticket
            }
            func waitCleared(_ ticket: PaymentTicket) async throws -> Bool {
                try await count(
                    """
                    SELECT count(*) FROM payments p WHERE p.payment_id = '\(ticket.paymentID)' AND p.unsent_since IS NULL
                      AND EXISTS (SELECT 1 FROM payment_attempts a WHERE a.payment_id = p.payment_id AND a.attempt_no = 2 AND a.outcome = 'interrupted')
                    """, db) == 1
            }
            let swept = try await stranded("interrupted_swept", state: "processing")
            #expect(try await store.sweep() == 1)
            #expect(try await waitCleared(swept), "the sweeper")
            let claimed = try await stranded("interrupted_claimed", state: "retry_scheduled")
            let tickets = try await store.claimDueRetries(limit: 10)
            #expect(tickets.map(\.paymentID) == [claimed.paymentID])
            #expect(tickets.first?.unsentSinceMilliseconds == nil)
            #expect(try await waitCleared(claimed), "a retry claim")
            let taken = try await stranded("interrupted_taken", state: "processing")
            guard case .charge(let ticket) = try await store.accept(taken.order, origin: origin(2)) else {
                throw TestFailure("the redelivered order was not taken over")
            }
            #expect(ticket.resumed)
            #expect(try await waitCleared(taken), "a take-over")
        }
    }

    /// A notification's result names the calls sent, not the tries: a try whose charge never
    /// left is no call.
    @Test func aNotificationsResultNamesTheCallsSent() async throws {
        try await withStore { store, db async throws in
            let order = self.order("unsent_then_notified", price: 1500)
            // The first try never left; the second did, and its answer is awaited.
            let ticket = try await acceptWithTwoTries(order, secondSent: true, store, db)
            #expect(try await store.learnSuccess(
                idempotencyKey: ticket.idempotencyKey, channel: .card, reference: "pi_notified", occurredAt: "2026-12-02T10:00:01.000Z",
                learnedBy: "test") == .settled(orderID: order.orderID))
            #expect(try await count(
                """
                SELECT count(*) FROM outbox WHERE kind = 'result' AND message_key = '\(order.orderID)'
                  AND payload::jsonb ->> 'status' = 'succeeded' AND (payload::jsonb ->> 'attempts')::integer = 1
                """, db) == 1, "one call was sent")
        }
    }

    @Test func theLetterOfAPaymentWhoseOutcomeIsUnknownCannotBeDiscarded() async throws {
        try await withStore { store, db async throws in
            let order = self.order("parked", price: 500)
            guard case .charge(let ticket) = try await store.accept(order, origin: origin(1), openAttempt: true) else {
                throw TestFailure("the order was not accepted for charging")
            }
            // As a payment parked past the lookup horizon stands: resolving, no lookup due, a letter.
            try await db.query(
                "UPDATE payments SET state = 'resolving', retry_due_at = NULL, lease_token = NULL WHERE payment_id = \(ticket.paymentID)",
                logger: Logger(label: "test"))
            let id = try await db.query(
                """
                INSERT INTO dead_letters (order_id, payment_id, reason_code, reason_message, payload, source_topic, source_partition,
                                          source_offset, source_digest)
                VALUES (\(order.orderID), \(ticket.paymentID), 'outcome_unknown', 'unknown', '{}', 'orders.created', 0, 1, 'd')
                RETURNING id
                """, logger: Logger(label: "test")).collect()[0].decode(Int64.self)
            let letters = DeadLetterStore(client: db, logger: Logger(label: "test"))
            await #expect(throws: DiscardRefused.self) { try await letters.discard(id, actor: "op", reason: "cleanup") }
            #expect(try await count("SELECT count(*) FROM dead_letters WHERE id = \(id) AND status = 'open'", db) == 1)
            // Once the payment has an outcome the letter can be closed.
            try await db.query("UPDATE payments SET state = 'failed' WHERE payment_id = \(ticket.paymentID)", logger: Logger(label: "test"))
            #expect(try await letters.discard(id, actor: "op", reason: "cleanup") == .open)
        }
    }

    private func order(_ name: String, price: Int64) -> OrderCreated {
        OrderCreated(
            eventID: "evt_\(run)_\(name)", orderID: "ord_\(run)_\(name)", userID: "u_1", itemID: "course_1", price: price,
            currency: Currency(code: "CNY")!, channel: .card, paymentMethod: "pm_sandbox_unavailable", createdAt: "2026-12-02T10:00:00Z")
    }

    /// Accepts `order` and leaves it with two tries: the first never left (`not_sent`); the
    /// second was sent and awaits its answer, or never left either.
    private func acceptWithTwoTries(_ order: OrderCreated, secondSent: Bool, _ store: PaymentStore, _ db: PostgresClient) async throws -> PaymentTicket {
        let logger = Logger(label: "test")
        guard case .charge(let ticket) = try await store.accept(order, origin: origin(1), openAttempt: true) else {
            throw TestFailure("the order was not accepted for charging")
        }
        try await db.query(
            "UPDATE payment_attempts SET outcome = 'not_sent', finished_at = now() WHERE payment_id = \(ticket.paymentID)", logger: logger)
        let (outcome, finished): (String?, String?) = secondSent ? (nil, nil) : ("not_sent", "now")
        try await db.query(
            """
            INSERT INTO payment_attempts (payment_id, attempt_no, idempotency_key, worker, outcome, finished_at)
            VALUES (\(ticket.paymentID), 2, \(ticket.idempotencyKey), 'test', \(outcome), \(finished)::timestamptz)
            """, logger: logger)
        try await db.query("UPDATE payments SET attempts = 2 WHERE payment_id = \(ticket.paymentID)", logger: logger)
        return ticket
    }

    private func invalidRejection(_ bytes: [UInt8]) throws -> OrderRejection {
        do throws(OrderRejection) { _ = try OrderCreated.decode(bytes) } catch { return error }
        throw TestFailure("the event decoded as valid")
    }

    private func invalidResult(_ orderID: String, _ eventID: String) -> ResultEvent {
        ResultEvent(
            eventID: eventID, orderID: orderID, paymentID: nil, status: .rejected, amount: nil, currency: nil, channel: nil,
            channelReference: nil, attempts: 0, reason: Reason(code: "invalid_price", message: "price must be 1 … 10^12"),
            occurredAt: "2026-12-02T10:00:02.000Z")
    }

    private func rejectedResult(_ order: OrderCreated, _ eventID: String) -> ResultEvent {
        ResultEvent(
            eventID: eventID, orderID: order.orderID, paymentID: nil, status: .rejected, amount: nil, currency: nil, channel: nil,
            channelReference: nil, attempts: 0, reason: Reason(code: "storage_error", message: "not stored"),
            occurredAt: "2026-12-02T10:00:02.000Z")
    }

    private func origin(_ offset: Int64, topic: String = "orders.created") -> EventOrigin {
        EventOrigin(topic: topic, partition: 0, offset: offset, digest: "digest_\(run)_\(offset)")
    }

    private func count(_ sql: String, _ db: PostgresClient) async throws -> Int {
        let rows = try await db.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "test")).collect()
        return try rows.first!.decode(Int.self)
    }

    /// A store on a fresh database of the shared cluster.
    private func withStore(_ body: (PaymentStore, PostgresClient) async throws -> Void) async throws {
        let url = try await Pipeline.migratedDatabase("outbox")
        let db = PostgresClient(configuration: try DatabaseURL.configuration(url), backgroundLogger: Logger(label: "outbox-db"))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await db.run() }
            try await body(PaymentStore(client: db, logger: Logger(label: "outbox-store"), worker: "outbox-test"), db)
            group.cancelAll()
        }
    }
}
