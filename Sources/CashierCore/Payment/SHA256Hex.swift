import Crypto

/// Lower-case hex of SHA-256, the one digest format Cashier derives ids and record digests from.
enum SHA256Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func of(_ bytes: some Collection<UInt8>) -> String {
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in SHA256.hash(data: Array(bytes)) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}
