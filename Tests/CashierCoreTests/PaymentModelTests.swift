import Testing
@testable import CashierCore

@Suite struct PaymentLifecycleTableTests {
    @Test func onlyAnOperatorsReplayLeavesATerminalState() {
        for transition in PaymentLifecycle.all where transition.from.contains(where: \.isTerminal) && transition.to != transition.from.first {
            #expect(transition.guardedBy == .operator_, "\(transition) leaves a terminal state")
        }
        #expect(PaymentLifecycle.replaySucceed.allows(.failed))
    }

    /// A replay's return to `failed` (`replay not charged`) is an operator's, from the
    /// `resolving` its own `send` made out of `failed`.
    @Test func failedIsReachedOnlyByADeclineAnExhaustionOrAReplay() {
        let intoFailed = PaymentLifecycle.all.filter { $0.to == .failed && !$0.from.allSatisfy { $0 == .failed } }
        #expect(Set(intoFailed.map(\.name)) == ["decline", "exhaust", "replay not charged"])
        #expect(PaymentLifecycle.replayNotCharged.guardedBy == .operator_)
        #expect(PaymentLifecycle.sendFromReplay.from == [.failed] && PaymentLifecycle.sendFromReplay.to == .resolving)
    }

    /// Except a contradiction (the order's result stands) and a replay's return to `failed`:
    /// the payment was `failed`, its result published, before the replay's call made it
    /// `resolving`; the result stands and none is published again.
    @Test func everyTransitionIntoATerminalStatePublishesAResultExceptAContradictionOrAReplaysReturn() {
        let exceptions = [PaymentLifecycle.contradict, PaymentLifecycle.replayNotCharged]
        for transition in PaymentLifecycle.all where transition.to.isTerminal && !transition.from.allSatisfy(\.isTerminal) {
            guard !exceptions.contains(transition) else { continue }
            #expect(transition.emits.contains(.result), "\(transition)")
        }
        for transition in exceptions { #expect(!transition.emits.contains(.result), "\(transition)") }
    }

    /// A replay's call is never sent from `failed`: the money may move from the moment it leaves.
    @Test func noCallIsSentFromATerminalState() {
        for transition in [PaymentLifecycle.sendFromProcessing, PaymentLifecycle.sendFromRetry, PaymentLifecycle.sendFromReplay] {
            #expect(!transition.to.isTerminal, "\(transition) from \(transition.fromNames) leaves the payment \(transition.toName)")
        }
    }

    @Test func aLearnedSuccessSettlesOpenPaymentsAndNeverASecondResult() {
        for state in PaymentState.allCases {
            let transition = PaymentLifecycle.onLearnedSuccess(from: state)
            switch state {
            case .processing, .retryScheduled, .resolving: #expect(transition == PaymentLifecycle.learnSuccess)
            case .failed: #expect(transition == PaymentLifecycle.contradict)
            case .succeeded: #expect(transition == nil)
            }
        }
    }
}

@Suite struct PaymentIdentityTests {
    @Test func sameOrderAlwaysGetsTheSameKey() {
        #expect(PaymentIdentity.idempotencyKey(orderID: "ord_1") == PaymentIdentity.idempotencyKey(orderID: "ord_1"))
        #expect(PaymentIdentity.paymentID(orderID: "ord_1") == PaymentIdentity.paymentID(orderID: "ord_1"))
    }

    @Test func differentOrdersAndGenerationsGetDifferentKeys() {
        #expect(PaymentIdentity.idempotencyKey(orderID: "ord_1") != PaymentIdentity.idempotencyKey(orderID: "ord_2"))
        #expect(PaymentIdentity.idempotencyKey(orderID: "ord_1") != PaymentIdentity.idempotencyKey(orderID: "ord_1", generation: 1))
    }

    @Test func keyFitsEveryChannelsRules() {
        let key = PaymentIdentity.idempotencyKey(orderID: String(repeating: "x", count: 64))
        #expect(key.count == 32)  // WeChat out_trade_no ≤ 32
        #expect(key.allSatisfy { $0.isLetter || $0.isNumber })  // Alipay: letters, digits, _
    }
}

@Suite struct CardClassificationTests {
    func body(_ json: String) -> JSONValue { try! JSONParser.parse(Array(json.utf8)) }

    @Test func succeededIntentIsSuccessWithItsReference() {
        let outcome = CardResponseClassifier.classify(status: 200, shouldRetry: nil, body: body(#"{"id":"pi_1","status":"succeeded"}"#))
        #expect(outcome == .succeeded(reference: "pi_1"))
    }

    @Test func offSessionIntentNeedingThePayerIsADecline() {
        let outcome = CardResponseClassifier.classify(status: 200, shouldRetry: nil, body: body(#"{"id":"pi_1","status":"requires_payment_method"}"#))
        #expect(outcome.kind == "declined")
    }

    @Test func processingIntentIsUnknown() {
        #expect(CardResponseClassifier.classify(status: 200, shouldRetry: nil, body: body(#"{"id":"pi_1","status":"processing"}"#)).kind == "unknown")
    }

    @Test(arguments: [
        (402, nil, "declined"), (400, nil, "declined"), (404, nil, "declined"),
        (409, nil, "unknown"), (429, nil, "not_processed"), (401, nil, "not_processed"), (429, true, "not_processed"),
        (500, nil, "retryable"), (502, nil, "retryable"), (503, nil, "retryable"),
        (500, false, "unknown"), (400, true, "retryable"), (302, nil, "unknown"),
    ] as [(Int, Bool?, String)])
    func classifiesErrorStatuses(status: Int, shouldRetry: Bool?, kind: String) {
        let outcome = CardResponseClassifier.classify(
            status: status, shouldRetry: shouldRetry, body: body(#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"no"}}"#))
        #expect(outcome.kind == kind)
    }

    @Test func declineCarriesTheDeclineCode() {
        let outcome = CardResponseClassifier.classify(
            status: 402, shouldRetry: nil, body: body(#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"no"}}"#))
        #expect(outcome.reason?.code == "insufficient_funds")
    }

    @Test func unreadable200IsUnknownNeverSuccess() {
        #expect(CardResponseClassifier.classify(status: 200, shouldRetry: nil, body: nil).kind == "unknown")
    }
}

@Suite struct RetryPolicyTests {
    @Test func ceilingGrowsExponentiallyUpToTheMaximum() {
        let policy = RetryPolicy.default
        #expect(policy.ceilingMilliseconds(retry: 1) == 1000)
        #expect(policy.ceilingMilliseconds(retry: 2) == 2000)
        #expect(policy.ceilingMilliseconds(retry: 5) == 16000)
        #expect(policy.ceilingMilliseconds(retry: 9) == 256_000)
        #expect(policy.ceilingMilliseconds(retry: 10) == 300_000)
        #expect(policy.ceilingMilliseconds(retry: 1000) == 300_000)
    }

    @Test func delayIsWithinHalfToFullCeiling() {
        var generator = SystemRandomNumberGenerator()
        let policy = RetryPolicy(baseMilliseconds: 100, factor: 3, maxMilliseconds: 10_000, maxAttempts: 5)
        for k in 1...12 {
            let ceiling = policy.ceilingMilliseconds(retry: k)
            for _ in 0..<200 {
                let delay = policy.delayMilliseconds(retry: k, using: &generator)
                #expect(delay * 2 >= ceiling && delay <= ceiling)
            }
        }
    }

    @Test func attemptsCountEveryCall() {
        let policy = RetryPolicy(baseMilliseconds: 1, factor: 2, maxMilliseconds: 10, maxAttempts: 3)
        #expect(policy.allowsAnotherAttempt(after: 2))
        #expect(!policy.allowsAnotherAttempt(after: 3))
    }
}
