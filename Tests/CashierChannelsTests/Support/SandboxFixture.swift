import _CryptoExtras
import AsyncHTTPClient
import CashierChannels
import CashierCore
import CashierSandbox
import Foundation
import Hummingbird
import Logging

let testLogger = Logger(label: "channel-tests")

/// Runs CPU-heavy or blocking work (RSA key generation, waiting for a process) on a Dispatch
/// thread. This 2-core machine gives the test run two cooperative threads; work that holds
/// them delays every timer, and the tests that measure deadlines with it.
func offPool<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}

/// Starts a sandbox on a free loopback port, runs `body` with its URL, then stops it. The
/// configuration is read once the test key set exists (`TestKeys.prepare()`).
func withSandbox(
    _ configuration: @autoclosure () -> SandboxConfiguration = .init(), _ body: @Sendable (String, SandboxServer) async throws -> Void
) async throws {
    await TestKeys.prepare()
    let server = try SandboxServer(configuration: configuration())
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let app = server.application(host: "127.0.0.1", port: 0, logger: testLogger) { continuation.yield($0) }
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        let port = await iterator.next()!
        try await body("http://127.0.0.1:\(port)", server)
        group.cancelAll()
    }
}

/// One development key set for the whole test run (RSA key generation takes a moment),
/// written by the same code as `cashier sandbox keys`.
enum TestKeys {
    static let directory: String = {
        let path = NSTemporaryDirectory() + "cashier-channel-keys-\(UUID().uuidString.prefix(8))"
        try! SandboxKeys.generate(into: path)
        return path
    }()

    /// Makes the key set, once, off the cooperative threads (`offPool`). Call it before any
    /// other member: the first to touch `directory` otherwise generates it on its own thread.
    static func prepare() async { _ = try? await offPool { directory } }

    static func file(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    static var sandboxConfiguration: SandboxConfiguration {
        var configuration = SandboxConfiguration()
        configuration.keys = try! SandboxKeys.load(from: directory)
        configuration.wechatSettle = .milliseconds(150)
        return configuration
    }

    static func alipay(_ sandboxURL: String, notifyURL: String? = nil) throws -> AlipayConfiguration {
        AlipayConfiguration(
            gatewayURL: sandboxURL + "/gateway.do", appID: SandboxKeys.alipayAppID,
            appPrivateKey: try RSAKeys.loadPrivateKey(file: file(SandboxKeys.File.alipayAppPrivate), setting: "test"),
            alipayPublicKey: try RSAKeys.loadPublicKey(file: file(SandboxKeys.File.alipayPlatformPublic), setting: "test"), notifyURL: notifyURL)
    }

    static func wechat(_ sandboxURL: String, notifyURL: String = "http://127.0.0.1:9/notify/wechat") throws -> WeChatConfiguration {
        WeChatConfiguration(
            baseURL: sandboxURL, mchid: SandboxKeys.wechatMchid, appid: SandboxKeys.wechatAppid, serialNo: SandboxKeys.wechatMerchantSerial,
            merchantPrivateKey: try RSAKeys.loadPrivateKey(file: file(SandboxKeys.File.wechatMerchantPrivate), setting: "test"),
            platformKeys: [SandboxKeys.wechatPlatformSerial: try RSAKeys.loadPublicKey(file: file(SandboxKeys.File.wechatPlatformPublic), setting: "test")],
            apiV3Key: apiV3Key, notifyURL: notifyURL)
    }

    static var apiV3Key: String {
        (try? String(contentsOfFile: file(SandboxKeys.File.wechatAPIv3Key), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }
}

func chargeRequest(_ orderID: String, method: String, amount: Int64 = 9000, attempt: Int = 1, currency: Currency = .cny) -> ChargeRequest {
    ChargeRequest(
        paymentID: "pay_\(orderID)", orderID: orderID, itemID: "course_7", amount: amount, currency: currency, paymentMethod: method,
        idempotencyKey: PaymentIdentity.idempotencyKey(orderID: orderID), attempt: attempt)
}
