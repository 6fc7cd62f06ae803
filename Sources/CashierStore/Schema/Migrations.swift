/// The schema, as an ordered list of versioned steps. A step is never edited once released:
/// changes come as a new step with the next version. (Released steps keep the state names they
/// were written with; every statement outside the schema binds states from `PaymentLifecycle`.)
enum Migrations {
    struct Step: Sendable {
        let version: Int
        let name: String
        let statements: [String]
    }

    static var latestVersion: Int { steps.last!.version }

    static let steps: [Step] = [
        Step(version: 1, name: "payments core", statements: [
            """
            CREATE TABLE orders (
                order_id         text PRIMARY KEY,
                event_id         text NOT NULL,
                user_id          text NOT NULL,
                item_id          text NOT NULL,
                price            bigint NOT NULL CHECK (price > 0),
                currency         text NOT NULL,
                discount         text NOT NULL,
                amount           bigint NOT NULL CHECK (amount > 0),
                channel          text NOT NULL,
                payment_method   text NOT NULL,
                fingerprint      text NOT NULL,
                created_at       text,
                source_topic     text NOT NULL,
                source_partition integer NOT NULL,
                source_offset    bigint NOT NULL,
                source_digest    text NOT NULL,
                received_at      timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE payments (
                payment_id        text PRIMARY KEY,
                order_id          text NOT NULL UNIQUE REFERENCES orders (order_id),
                state             text NOT NULL
                    CHECK (state IN ('processing', 'retry_scheduled', 'succeeded', 'failed')),
                amount            bigint NOT NULL CHECK (amount > 0),
                currency          text NOT NULL,
                channel           text NOT NULL,
                idempotency_key   text NOT NULL,
                key_generation    integer NOT NULL DEFAULT 0,
                attempts          integer NOT NULL DEFAULT 0,
                channel_reference text,
                reason_code       text,
                reason_message    text,
                created_at        timestamptz NOT NULL DEFAULT now(),
                updated_at        timestamptz NOT NULL DEFAULT now(),
                settled_at        timestamptz
            )
            """,
            "CREATE INDEX payments_state ON payments (state) WHERE state IN ('processing', 'retry_scheduled')",
            """
            CREATE TABLE payment_attempts (
                payment_id        text NOT NULL REFERENCES payments (payment_id),
                attempt_no        integer NOT NULL,
                idempotency_key   text NOT NULL,
                worker            text NOT NULL,
                started_at        timestamptz NOT NULL DEFAULT now(),
                finished_at       timestamptz,
                outcome           text,
                channel_reference text,
                error_code        text,
                error_message     text,
                PRIMARY KEY (payment_id, attempt_no)
            )
            """,
            """
            CREATE TABLE inbox (
                source_topic     text NOT NULL,
                source_partition integer NOT NULL,
                source_offset    bigint NOT NULL,
                source_digest    text NOT NULL,
                event_id         text,
                order_id         text,
                disposition      text NOT NULL
                    CHECK (disposition IN ('accepted', 'duplicate', 'conflict', 'rejected')),
                reason_code      text,
                reason_message   text,
                payload          bytea,
                received_at      timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (source_topic, source_partition, source_offset, source_digest)
            )
            """,
            "CREATE INDEX inbox_order ON inbox (order_id)",
            """
            CREATE TABLE outbox (
                id           bigserial PRIMARY KEY,
                event_id     text NOT NULL UNIQUE,
                kind         text NOT NULL CHECK (kind IN ('result', 'retry', 'dlq')),
                message_key  text NOT NULL,
                payload      text NOT NULL,
                traceparent  text,
                created_at   timestamptz NOT NULL DEFAULT now(),
                published_at timestamptz
            )
            """,
            "CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL",
            """
            CREATE TABLE dead_letters (
                id               bigserial PRIMARY KEY,
                order_id         text,
                payment_id       text,
                channel          text,
                reason_code      text NOT NULL,
                reason_message   text NOT NULL,
                attempts         integer NOT NULL DEFAULT 0,
                payload          text NOT NULL,
                source_topic     text NOT NULL,
                source_partition integer NOT NULL,
                source_offset    bigint NOT NULL,
                source_digest    text NOT NULL,
                status           text NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'replayed', 'discarded')),
                created_at       timestamptz NOT NULL DEFAULT now(),
                UNIQUE (source_topic, source_partition, source_offset, source_digest, reason_code)
            )
            """,
        ]),
        Step(version: 2, name: "retry schedule and dead-letter operations", statements: [
            // The retry schedule lives in Postgres: `retry_due_at` is set when the retry worker
            // takes the payment off the retry topic, and a lease marks the one call in flight.
            """
            ALTER TABLE payments
                ADD COLUMN retry_due_at timestamptz,
                ADD COLUMN lease_until  timestamptz,
                ADD COLUMN leased_by    text
            """,
            "CREATE INDEX payments_retry_due ON payments (retry_due_at) WHERE state = 'retry_scheduled' AND retry_due_at IS NOT NULL",
            // Payments that waited for a retry worker before there was one are due now.
            "UPDATE payments SET retry_due_at = now() WHERE state = 'retry_scheduled'",
            "CREATE INDEX dead_letters_status ON dead_letters (status, created_at)",
            "CREATE INDEX dead_letters_order ON dead_letters (order_id)",
            "ALTER TABLE dead_letters ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now()",
            // Every operator action on a dead letter: who, when, why, and what happened.
            """
            CREATE TABLE dead_letter_actions (
                id             bigserial PRIMARY KEY,
                dead_letter_id bigint NOT NULL REFERENCES dead_letters (id),
                order_id       text,
                action         text NOT NULL CHECK (action IN ('replay', 'discard')),
                actor          text NOT NULL,
                reason         text NOT NULL,
                outcome        text NOT NULL,
                detail         text NOT NULL,
                started_at     timestamptz NOT NULL DEFAULT now(),
                finished_at    timestamptz
            )
            """,
            "CREATE INDEX dead_letter_actions_letter ON dead_letter_actions (dead_letter_id)",
        ]),
        Step(version: 3, name: "payment notifications", statements: [
            // Notifications name the payment by its idempotency key (`out_trade_no`).
            "CREATE UNIQUE INDEX payments_idempotency_key ON payments (idempotency_key)",
            "ALTER TABLE dead_letter_actions DROP CONSTRAINT dead_letter_actions_action_check",
            "ALTER TABLE dead_letter_actions ADD CONSTRAINT dead_letter_actions_action_check CHECK (action IN ('replay', 'discard', 'notification'))",
        ]),
        Step(version: 4, name: "trace context", statements: [
            // The order event's W3C traceparent, so retries and dead letters carry it on too.
            "ALTER TABLE payments ADD COLUMN traceparent text",
        ]),
        Step(version: 5, name: "one enforced payment lifecycle", statements: [
            // `resolving`: the channel may have charged and has not said; looked up on the
            // schedule in `retry_due_at` until it tells (invariant 6).
            "ALTER TABLE payments DROP CONSTRAINT payments_state_check",
            """
            ALTER TABLE payments ADD CONSTRAINT payments_state_check
                CHECK (state IN ('processing', 'retry_scheduled', 'resolving', 'succeeded', 'failed'))
            """,
            // Fencing: every outcome write names the lease it holds (and the attempt it closes);
            // `attempts` counts calls sent, so a new payment starts at 0.
            """
            ALTER TABLE payments
                ADD COLUMN lease_token    text,
                ADD COLUMN unknown_since  timestamptz,
                ADD COLUMN lookups        integer NOT NULL DEFAULT 0,
                ADD COLUMN late_reference text,
                ALTER COLUMN attempts SET DEFAULT 0
            """,
            "CREATE INDEX payments_lookup_due ON payments (retry_due_at) WHERE state = 'resolving' AND retry_due_at IS NOT NULL",
            // Payments left `processing` by an earlier version have no lease: the sweeper finds them.
            "UPDATE payments SET lease_until = now() WHERE state = 'processing' AND lease_until IS NULL",
        ]),
        Step(version: 6, name: "dead letters closed by a lookup", statements: [
            // A lookup that finds the charge of a dead-lettered payment closes its letters, and
            // says so in their audit trail.
            "ALTER TABLE dead_letter_actions DROP CONSTRAINT dead_letter_actions_action_check",
            "ALTER TABLE dead_letter_actions ADD CONSTRAINT dead_letter_actions_action_check CHECK (action IN ('replay', 'discard', 'notification', 'lookup'))",
        ]),
        Step(version: 7, name: "one fate per order id", statements: [
            // An order id is accepted (and charged) or rejected because its record could not be
            // stored, never both. The accept and the poison path each insert the order's fate
            // here, so the primary key, not a statement's snapshot, decides a race between them.
            """
            CREATE TABLE order_fates (
                order_id    text PRIMARY KEY,
                fate        text NOT NULL CHECK (fate IN ('accepted', 'rejected')),
                fingerprint text,
                decided_at  timestamptz NOT NULL DEFAULT now()
            )
            """,
            // Rejections made before this table: the inbox's (version 6 code), and, older, the
            // published `rejected` results with reason `storage_error` (matched on the JSON's
            // structure: inside a JSON string every quote is escaped, so text cannot match).
            // An order accepted anyway keeps its payment.
            """
            INSERT INTO order_fates (order_id, fate, decided_at)
            SELECT order_id, 'rejected', min(received_at) FROM inbox i
            WHERE disposition = 'rejected' AND reason_code = 'storage_error' AND order_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = i.order_id)
            GROUP BY order_id
            """,
            """
            INSERT INTO order_fates (order_id, fate, decided_at)
            SELECT message_key, 'rejected', min(created_at) FROM outbox r
            WHERE kind = 'result' AND payload ~ '"status" *: *"rejected"' AND payload ~ '"reason" *: *\\{ *"code" *: *"storage_error"'
              AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = r.message_key)
            GROUP BY message_key
            ON CONFLICT (order_id) DO NOTHING
            """,
        ]),
        Step(version: 8, name: "payments waiting without a call", statements: [
            // Since when no call could be sent (unreachable channel, open circuit): the time,
            // not a count of refused calls, after which such a payment ends (invariant 7).
            "ALTER TABLE payments ADD COLUMN unsent_since timestamptz",
        ]),
        Step(version: 9, name: "invalid events decide their order", statements: [
            // An order id first named by an invalid event was told "rejected": that is its fate,
            // so a later valid event of it is a conflict, never charged. The fingerprint is the
            // invalid event's (`OrderRejection.fingerprint(digest:)`). An order accepted anyway
            // keeps its payment.
            """
            INSERT INTO order_fates (order_id, fate, fingerprint, decided_at)
            SELECT DISTINCT ON (order_id) order_id, 'rejected', 'invalid:' || source_digest, received_at FROM inbox i
            WHERE disposition = 'rejected' AND order_id IS NOT NULL AND reason_code <> 'storage_error'
              AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = i.order_id)
            ORDER BY order_id, received_at
            ON CONFLICT (order_id) DO NOTHING
            """,
        ]),
        Step(version: 10, name: "inbox rejections by order", statements: [
            // Every accept asks whether an order id has an inbox-only rejection (a pod of an
            // earlier release). There are few or none; this index holds only those, so the
            // batch accept probes it rather than hashing the whole inbox, which it did on every
            // batch before statistics existed (measured: 1,619 scans, 25.7 million rows read
            // for 50,000 orders). Building it blocks writes to the inbox (accepts, rejections)
            // for one full read of the inbox: seconds on a large one (README, "Upgrading").
            "CREATE INDEX IF NOT EXISTS inbox_rejected ON inbox (order_id) WHERE disposition = 'rejected'",
        ]),
    ]
}
