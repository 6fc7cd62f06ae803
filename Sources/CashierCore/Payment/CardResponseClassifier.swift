/// Classifies an answer of the Stripe-compatible card API (CHANNELS.md, "Card").
///
/// Pure: the adapter does the HTTP and hands the status, the `Stripe-Should-Retry` header and
/// the parsed body here, so every row of the protocol table is unit-tested without a network.
public enum CardResponseClassifier {
    public static func classify(status: Int, shouldRetry: Bool?, body: JSONValue?) -> ChannelOutcome {
        if status == 200 { return classifyIntent(body) }
        let error = body?["error"]
        let type = error?["type"].flatMap(Self.string) ?? "unknown_error"
        let code = error?["decline_code"].flatMap(Self.string) ?? error?["code"].flatMap(Self.string) ?? type
        let message = error?["message"].flatMap(Self.string) ?? "HTTP \(status)"
        let reason = Reason(code: code, message: "card channel HTTP \(status) \(type): \(message)")

        // Another request with this key is in flight (another pod, or our own call that timed
        // out): its outcome is not known yet, whatever a retry header says, so this is
        // "unknown", never "nothing happened" (checked before the header for that reason).
        if status == 409 { return .unknown(reason) }
        switch status {
        case 429:
            // Rate limited before anything was done: nothing charged.
            return .notProcessed(reason)
        case 401, 403:
            // A rejected API key charged nothing; an operator must fix the configuration, so the
            // order goes down the retry path (and, if never fixed, to the dead letters, where it
            // can be replayed) instead of being failed for the buyer.
            return .notProcessed(reason)
        default:
            break
        }
        // Otherwise an explicit header from the channel wins over our reading of the status
        // code; it says a repeat may help, not that nothing was charged.
        if shouldRetry == true { return .retryable(reason) }
        switch status {
        case 402:
            return .declined(reason)
        case 400 where type == "idempotency_error":
            // Same key, other parameters: a request with this key reached the channel before,
            // and it may have charged. The contract calls it terminal, but "terminal" is not "no
            // money moved" (invariant 6): the lookup finds that charge or says there is none.
            return .unknown(reason)
        case 400..<500:
            // Invalid requests: retrying the same call cannot help, and nothing was charged.
            return .declined(reason)
        case 500..<600:
            // With "Stripe-Should-Retry: false" the server says a repeat will not help, but a 5xx
            // does not say whether the charge happened: treat it as unknown, never as declined.
            return shouldRetry == false ? .unknown(reason) : .retryable(reason)
        default:
            return .unknown(reason)
        }
    }

    private static func classifyIntent(_ body: JSONValue?) -> ChannelOutcome {
        guard let body, let id = body["id"].flatMap(string), let status = body["status"].flatMap(string) else {
            return .unknown(Reason(code: "unreadable_response", message: "card channel answered 200 without an intent id and status"))
        }
        switch status {
        case "succeeded":
            return .succeeded(reference: id)
        case "requires_payment_method", "canceled":
            let error = body["last_payment_error"]
            let code = error?["decline_code"].flatMap(string) ?? error?["code"].flatMap(string) ?? status
            let message = error?["message"].flatMap(string) ?? "payment intent \(id) ended in \(status)"
            return .declined(Reason(code: code, message: message))
        case "processing":
            // Accepted, not settled: the money may still move. The intent id lets the lookup ask
            // for this intent directly.
            return .unknown(Reason(code: "processing", message: "payment intent \(id) is processing"), reference: id)
        default:
            // `requires_action`, `requires_capture` and anything new: not settled either way.
            return .unknown(Reason(code: "intent_\(status)", message: "payment intent \(id) is \(status)"), reference: id)
        }
    }

    private static func string(_ value: JSONValue) -> String? {
        if case .string(let text) = value { return text }
        return nil
    }
}
