import CashierCore
import Foundation
import Synchronization

/// The card channel's behaviour (Stripe's idempotency semantics), free of HTTP so it can be
/// tested directly: same key and parameters → the saved answer; same key, other parameters →
/// 400 `idempotency_error`; same key while the first call runs → 409.
///
/// Special payment methods make behaviour deterministic for tests and demos:
/// `pm_card_chargeDeclined`, `pm_card_chargeDeclinedInsufficientFunds` (declines),
/// `pm_sandbox_slow` (charged, answered late), `pm_sandbox_hold_<ms>` (held before charging),
/// `pm_sandbox_unavailable` (always 503), `pm_sandbox_flaky_<n>` (503 for the first n calls),
/// `pm_sandbox_processing_<ms>` (answered `processing`, succeeds `<ms>` later; a repeat replays
/// the saved `processing` answer), `pm_sandbox_stall` (charged, then the answer stops after its
/// head and half its body; a repeat replays the saved answer whole), `pm_sandbox_charged_500`
/// (charged, then answered 500 `api_error`; the 500 is saved and replayed for the key, as Stripe
/// saves a server error: only a lookup finds the charge).
public final class CardSimulator: Sendable {
    public struct Answer: Sendable {
        public let status: Int
        public let body: String
        public let headers: [(String, String)]
        public let delivery: Delivery
    }

    /// How the server sends an answer. Whatever it is, the charge has already happened.
    public enum Delivery: Sendable, Equatable {
        /// At once, whole.
        case whole
        /// Whole, after holding it this long.
        case late(Duration)
        /// The status line, the headers (with the full `Content-Length`) and half the body,
        /// then nothing for this long or until the client goes away; never finished.
        case stalled(Duration)
    }

    private enum KeyState {
        case inFlight(parameters: String)
        case done(parameters: String, answer: SavedAnswer)
    }

    private struct State {
        var keys: [String: KeyState] = [:]
        var calls: [String: Int] = [:]
        var intents: [CardIntent] = []
        var intentsByID: [String: Int] = [:]
    }

    private let configuration: SandboxConfiguration
    private let state = Mutex(State())

    public init(configuration: SandboxConfiguration) {
        self.configuration = configuration
    }

    /// Every executed intent, as it stands now.
    public var intents: [CardIntent] {
        let now = Self.nowMilliseconds()
        return state.withLock { $0.intents }.map { $0.current(at: now) }
    }

    /// The intent `id`, as it stands now.
    public func intent(id: String) -> CardIntent? {
        let now = Self.nowMilliseconds()
        return state.withLock { state in state.intentsByID[id].map { state.intents[$0] } }?.current(at: now)
    }

    /// Handles `POST /v1/payment_intents`.
    public func create(authorization: String?, idempotencyKey: String?, form: [(String, String)]) async -> Answer {
        guard let token = authorization?.split(separator: " ", maxSplits: 1).last, authorization?.hasPrefix("Bearer ") == true,
            !token.isEmpty, configuration.cardAPIKey.map({ $0 == token }) ?? true
        else {
            return error(401, type: "invalid_request_error", code: "api_key_invalid", message: "Invalid API Key provided.")
        }
        let parameters = Dictionary(form, uniquingKeysWith: { _, last in last })
        guard let amountText = parameters["amount"], let amount = Int64(amountText), amount >= 1 else {
            return error(400, type: "invalid_request_error", code: "parameter_invalid_integer", message: "amount must be a positive integer")
        }
        guard let currency = parameters["currency"], currency == currency.lowercased(), Currency(code: currency.uppercased()) != nil else {
            return error(400, type: "invalid_request_error", code: "parameter_invalid", message: "currency must be a supported lowercase ISO code")
        }
        guard let paymentMethod = parameters["payment_method"], !paymentMethod.isEmpty,
            parameters["confirm"] == "true", parameters["off_session"] == "true"
        else {
            return error(400, type: "invalid_request_error", code: "parameter_missing", message: "payment_method, confirm=true and off_session=true are required")
        }
        let orderID = parameters["metadata[order_id]"] ?? ""
        let key = idempotencyKey ?? UUID().uuidString
        let fingerprint = form.sorted { $0.0 < $1.0 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")

        // Claim the key, or answer from what it already holds.
        enum Claim { case claimed(call: Int), answer(Answer) }
        let claim: Claim = state.withLock { state in
            let existing = state.keys[key]
            let savedParameters: String? = switch existing {
            case .inFlight(let parameters)?, .done(let parameters, _)?: parameters
            case nil: nil
            }
            if let savedParameters, savedParameters != fingerprint {
                return .answer(error(400, type: "idempotency_error", code: "idempotency_key_in_use",
                    message: "Keys for idempotent requests can only be used with the same parameters they were first used with."))
            }
            switch existing {
            case .inFlight?:
                return .answer(error(409, type: "idempotency_error", code: "idempotency_key_in_use",
                    message: "There is currently another in-progress request using this Idempotent Key."))
            case .done(_, let answer)?:
                return .answer(Answer(status: answer.status, body: answer.body, headers: [("Idempotent-Replayed", "true")], delivery: .whole))
            case nil:
                state.keys[key] = .inFlight(parameters: fingerprint)
                let call = state.calls[key, default: 0] + 1
                state.calls[key] = call
                return .claimed(call: call)
            }
        }
        guard case .claimed(let call) = claim else {
            if case .answer(let answer) = claim { return answer }
            fatalError("unreachable")
        }

        if configuration.latency > .zero { try? await Task.sleep(for: configuration.latency) }
        let behaviour = Behaviour(paymentMethod: paymentMethod, call: call, configuration: configuration)
        if case .hold(let duration) = behaviour.before { try? await Task.sleep(for: duration) }
        if let transient = behaviour.transientError {
            // Not executed and not saved: the same key may be tried again.
            state.withLock { _ = $0.keys.removeValue(forKey: key) }
            return transient
        }
        let intentID = "pi_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
        let now = Self.nowMilliseconds()
        let status = behaviour.decline != nil ? "requires_payment_method" : behaviour.processing != nil ? "processing" : "succeeded"
        let intent = CardIntent(
            id: intentID, idempotencyKey: key, orderID: orderID, amount: amount, currency: currency, paymentMethod: paymentMethod,
            status: status, createdAtMilliseconds: now, completesAtMilliseconds: behaviour.processing.map { now + $0.wholeMilliseconds })
        let answer: SavedAnswer
        if behaviour.serverErrorAfterCharge {
            answer = SavedAnswer(status: 500, body: errorBody(type: "api_error", code: "internal_error", declineCode: nil, message: "An unexpected error occurred.", intent: nil))
        } else if let decline = behaviour.decline {
            answer = SavedAnswer(status: 402, body: errorBody(type: "card_error", code: "card_declined", declineCode: decline, message: "Your card was declined.", intent: intentID))
        } else {
            answer = SavedAnswer(status: 200, body: Self.intentJSON(intent))
        }
        state.withLock { state in
            state.intentsByID[intentID] = state.intents.count
            state.intents.append(intent)
            state.keys[key] = .done(parameters: fingerprint, answer: answer)
        }
        let delivery: Delivery = if behaviour.stall { .stalled(configuration.stallHold) } else if behaviour.slowAnswer { .late(configuration.slowAnswer) } else { .whole }
        return Answer(status: answer.status, body: answer.body, headers: [], delivery: delivery)
    }

    static func nowMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    static func intentJSON(_ intent: CardIntent) -> String { EventJSON.text(CardWire.Intent(intent)) }

    private func error(_ status: Int, type: String, code: String, message: String, headers: [(String, String)] = []) -> Answer {
        Answer(status: status, body: errorBody(type: type, code: code, declineCode: nil, message: message, intent: nil), headers: headers, delivery: .whole)
    }

    private func errorBody(type: String, code: String, declineCode: String?, message: String, intent: String?) -> String {
        CardWire.Failure.text(type: type, code: code, declineCode: declineCode, message: message, intent: intent)
    }

    /// What one call does, decided from the payment method and the configured rates.
    private struct Behaviour {
        enum Before { case none, hold(Duration) }
        var before: Before = .none
        var transientError: Answer? = nil
        var decline: String? = nil
        var slowAnswer = false
        /// Answer `processing`; the intent succeeds this much later.
        var processing: Duration? = nil
        var stall = false
        /// Charge, then answer (and save) a server error.
        var serverErrorAfterCharge = false

        init(paymentMethod: String, call: Int, configuration: SandboxConfiguration) {
            switch paymentMethod {
            case "pm_card_chargeDeclined": decline = "generic_decline"
            case "pm_card_chargeDeclinedInsufficientFunds": decline = "insufficient_funds"
            case "pm_sandbox_slow": slowAnswer = true
            case "pm_sandbox_stall": stall = true
            case "pm_sandbox_charged_500": serverErrorAfterCharge = true
            case let method where method.hasPrefix("pm_sandbox_processing_"):
                if let ms = Int(method.dropFirst("pm_sandbox_processing_".count)), ms >= 0 { processing = .milliseconds(ms) }
            case "pm_sandbox_unavailable": transientError = Self.unavailable
            case let method where method.hasPrefix("pm_sandbox_flaky_"):
                if let failures = Int(method.dropFirst("pm_sandbox_flaky_".count)), call <= failures { transientError = Self.unavailable }
            case let method where method.hasPrefix("pm_sandbox_hold_"):
                if let ms = Int(method.dropFirst("pm_sandbox_hold_".count)) { before = .hold(.milliseconds(ms)) }
            default:
                let roll = Double.random(in: 0..<1)
                if roll < configuration.errorRate {
                    // Mostly server errors, sometimes a rate limit.
                    transientError = Double.random(in: 0..<1) < 0.8 ? Self.unavailable : Self.rateLimited
                } else if roll < configuration.errorRate + configuration.declineRate {
                    decline = "generic_decline"
                } else if roll < configuration.errorRate + configuration.declineRate + configuration.timeoutRate {
                    slowAnswer = true
                }
            }
        }

        static let unavailable = Answer(
            status: 503, body: CardWire.Failure.text(type: "api_error", code: "service_unavailable", message: "The sandbox is temporarily unavailable."),
            headers: [("Stripe-Should-Retry", "true")], delivery: .whole)
        static let rateLimited = Answer(
            status: 429, body: CardWire.Failure.text(type: "invalid_request_error", code: "rate_limit", message: "Too many requests."),
            headers: [], delivery: .whole)
    }
}
