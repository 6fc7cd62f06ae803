import CashierOps
import Foundation
import NIOCore
import Testing

/// A listener that cannot listen is one line naming the port and the setting that changes it.
@Suite struct ListenerTests {
    @Test func aTakenPortNamesThePortAndTheSetting() {
        let error = Listener.ops(host: "0.0.0.0", port: 8080).explained(IOError(errnoCode: EADDRINUSE, reason: "bind"))
        #expect("\(error)" == "port 8080 on 0.0.0.0 is already in use (the /healthz, /readyz and /metrics listener), perhaps by another cashier on this host; choose another with --http-port or CASHIER_HTTP_PORT (0 picks a free one)")
    }

    @Test func aPrivilegedPortAndAForeignAddressAreExplained() {
        let notify = Listener.notifications(host: "10.9.9.9", port: 80)
        #expect("\(notify.explained(IOError(errnoCode: EACCES, reason: "bind")))".contains("choose a port above 1023 with --port or CASHIER_NOTIFY_PORT"))
        #expect("\(notify.explained(IOError(errnoCode: EADDRNOTAVAIL, reason: "bind")))".hasPrefix("address 10.9.9.9 is not one of this host's"))
    }

    @Test func otherErrorsPassUnchanged() {
        struct Other: Error {}
        #expect(Listener.sandbox(host: "127.0.0.1", port: 1).explained(Other()) is Other)
        #expect(Listener.sandbox(host: "127.0.0.1", port: 1).explained(IOError(errnoCode: ECONNRESET, reason: "x")) is IOError)
    }
}
